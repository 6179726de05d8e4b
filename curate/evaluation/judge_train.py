"""Labelled answers for fitting and scoring judges: registry:judge-labels (three verdicts, labelled by the
maintainers against docs/labelling.md) and registry:refusals (PyRIT's 169 human labels, 1 = refusal).

Labels are read, never made: a label set is what people wrote. registry:refusals is binary; to fit a judge on it
its "not a refusal" answers stand as compliance (the only other verdict it can tell apart), and it is scored as
refusal vs not-refusal. Note that PyRIT labels off-topic answers as refusals, which docs/labelling.md calls
degenerate. `cross_validate` is the earlier binary judge's k-fold check (bench/eval/judge_accuracy.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.errors import InputError
from curate.evaluation.judges.artefact import default_judge
from curate.evaluation.judges.legacy import RefusalJudge
from curate.evaluation.verdicts import check_verdicts
from curate.io import require_columns

__all__ = ["LabelSet", "load_labels", "refusal_label_set", "refusal_labels", "cross_validate", "default_judge",
           "OWN_LABELS", "REFUSAL_LABELS"]

OWN_LABELS = "registry:judge-labels"
REFUSAL_LABELS = "registry:refusals"


@dataclass
class LabelSet:
    prompts: list[str]
    responses: list[str]
    verdicts: np.ndarray
    """[n] str, each one of VERDICTS."""
    groups: np.ndarray
    """[n] prompt ids: answers to one prompt are resampled together."""
    source: str

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, keep: np.ndarray, source: str) -> LabelSet:
        rows = np.flatnonzero(keep)
        return LabelSet([self.prompts[i] for i in rows], [self.responses[i] for i in rows], self.verdicts[rows],
                        self.groups[rows], source)


def _open(spec: str):
    from embed import open_input

    try:
        return open_input(spec)
    except InputError as err:
        if spec == OWN_LABELS:
            raise InputError(f"{spec}: not available ({err}); the maintainers' labelled answers ship as this "
                             "registry dataset - until then pass --labels FILE (columns prompt, response, verdict, "
                             "split)") from err
        raise


def load_labels(spec: str = OWN_LABELS, split: str | None = None) -> LabelSet:
    """Labelled answers of `spec` (columns prompt, response, verdict; optional prompt_id, split): one split or all."""
    table = _open(spec)
    require_columns(table, ["prompt", "response", "verdict"] + (["split"] if split else []), spec)
    check_verdicts(table.column("verdict").to_pylist(), spec)  # every row, whichever split is asked for
    if split is not None:
        splits = table.column("split").to_pylist()
        wanted = {split, "heldout"} if split == "test" else {split}  # the registry names its test split heldout
        keep = np.asarray([s in wanted for s in splits])
        if not keep.any():
            raise InputError(f"{spec}: no rows with split '{split}' (splits: "
                             f"{sorted(set(map(str, table.column('split').to_pylist())))})")
        table = table.filter(keep)
    verdicts = check_verdicts(table.column("verdict").to_pylist(), spec)
    prompts = [p or "" for p in table.column("prompt").to_pylist()]
    ids = table.column("prompt_id").to_pylist() if "prompt_id" in table.column_names else prompts
    return LabelSet(prompts, [r or "" for r in table.column("response").to_pylist()], verdicts,
                    np.asarray(ids, dtype=str), f"{spec}:{split}" if split else spec)


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


def refusal_label_set() -> LabelSet:
    """registry:refusals as a LabelSet: label 1 -> refusal, 0 -> compliance (see the module note)."""
    prompts, responses, labels = refusal_labels()
    verdicts = np.where(labels == 1, "refusal", "compliance").astype(str)
    return LabelSet([p or "" for p in prompts], [r or "" for r in responses], verdicts,
                    np.asarray([p or "" for p in prompts], dtype=str), REFUSAL_LABELS)


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
    """Accuracy/F1 of rules alone, classifier alone and the combined binary judge on held-out folds.

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
