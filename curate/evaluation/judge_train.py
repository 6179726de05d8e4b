"""Training the default refusal judge on the human labels, with honest k-fold cross-validation."""

from __future__ import annotations

import importlib.util

import numpy as np

from curate.errors import InputError
from curate.evaluation.judge import RefusalJudge, judge_features

__all__ = ["refusal_labels", "cross_validate", "default_judge"]

JUDGE_VERSION = "refusal-minilm-v2"


def refusal_labels() -> tuple[list[str], list[str], np.ndarray]:
    """(prompts, responses, labels) of registry:refusals (1 = the human judged it a refusal)."""
    try:
        from embed import open_input

        table = open_input("registry:refusals")
    except ImportError:  # the dataset registry is not installed: read the same PyRIT files directly
        table = _pyrit_refusals()
    for column in ("prompt", "response", "label"):
        if column not in table.column_names:
            raise InputError(f"registry:refusals lacks column '{column}' (columns: {table.column_names})")
    labels = np.asarray(table.column("label").to_numpy(zero_copy_only=False), dtype=int)
    return table.column("prompt").to_pylist(), table.column("response").to_pylist(), labels


def _pyrit_refusals():
    import csv
    import importlib.metadata
    import io

    import pyarrow as pa

    folder = importlib.metadata.distribution("pyrit").locate_file("pyrit") / "datasets/scorer_evals/refusal_scorer"
    rows = []
    for name in ("refusal.csv", "refusal_extra.csv"):
        text = "".join(line for line in open(folder / name, encoding="utf-8") if not line.startswith("#"))
        rows += list(csv.DictReader(io.StringIO(text)))
    return pa.table({"prompt": [r["objective"] for r in rows], "response": [r["assistant_response"] for r in rows],
                     "label": [int(float(r["human_score"])) for r in rows]})


def _scores(y: np.ndarray, pred: np.ndarray) -> dict:
    tp, fp, fn = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum()), int((~pred & (y == 1)).sum())
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return {"accuracy": float((pred == (y == 1)).mean()), "f1": float(f1)}


def cross_validate(features: np.ndarray, labels: np.ndarray, folds: int = 5, repeats: int = 5, seed: int = 0) -> dict:
    """Accuracy/F1 of rules alone, classifier alone and the combined judge on held-out folds.

    Each repeat is a fresh stratified split; every example is scored exactly once per repeat by a judge that
    never saw it. Figures are means over repeats (std alongside).
    """
    from sklearn.model_selection import StratifiedKFold

    results: dict[str, list[dict]] = {"rules": [], "classifier": [], "combined": []}
    for r in range(repeats):
        preds = {k: np.zeros(len(labels), dtype=bool) for k in results}
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed + r).split(features, labels):
            judge = RefusalJudge.fit(features[train], labels[train])
            preds["classifier"][test] = judge.probability(features[test]) >= judge.threshold
            preds["combined"][test] = judge.judge_features(features[test]).refused
        preds["rules"] = features[:, -1] > 0.5
        for k in results:
            results[k].append(_scores(labels, preds[k]))
    summary = {"n": int(len(labels)), "positives": int(labels.sum()), "folds": folds, "repeats": repeats, "seed": seed}
    for k, runs in results.items():
        for metric in ("accuracy", "f1"):
            values = [run[metric] for run in runs]
            summary[f"{k}_{metric}"] = round(float(np.mean(values)), 4)
            summary[f"{k}_{metric}_std"] = round(float(np.std(values)), 4)
    return summary


def default_judge(retrain: bool = False) -> RefusalJudge:
    """The judge trained on registry:refusals with its CV metrics; cached under cache_dir()/judges on first use."""
    from curate.models import cache_dir

    path = cache_dir() / "judges" / f"{JUDGE_VERSION}.json"
    if path.exists() and not retrain:
        return RefusalJudge.load(path)
    prompts, responses, labels = refusal_labels()
    features = judge_features(prompts, responses)
    metrics = cross_validate(features, labels)
    judge = RefusalJudge.fit(features, labels)
    source = ("registry:refusals" if importlib.util.find_spec("curate.datasets")
              else "pyrit refusal_scorer/refusal.csv + refusal_extra.csv (dataset registry not installed)")
    judge.metrics = {"cross_validation": metrics, "trained_on": source, "version": JUDGE_VERSION}
    judge.save(path)
    return judge
