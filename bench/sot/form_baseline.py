"""Form-only baseline of the SOT benchmark family: can the label be read off the form of a row?

A logistic regression sees only form: the first word, second word and first two words of the prompt and of the
answer (one-hot), their lengths (characters and words, log) and their punctuation counts, never what the words
mean. Its 5-fold cross-validated AUROC against is_harmful is reported per corpus; a corpus on which it exceeds
--max-auroc (0.70) gives away its label by form and must be rebuilt: the script prints FAIL and exits 1.

    .venv/bin/python -m bench.sot.form_baseline                      # every sot-val-* and sot-test-* corpus
    .venv/bin/python -m bench.sot.form_baseline --corpora sot-test-5 --out runs/form.json
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import make_parser, write_json

__all__ = ["form_features", "form_model", "form_auroc", "check_corpus", "CORPORA", "MAX_AUROC", "PUNCTUATION"]

CORPORA = tuple(f"sot-{split}-{rate}" for split in ("val", "test") for rate in (1, 5, 10))
MAX_AUROC = 0.70
PUNCTUATION = ".,;:!?'\"`()-—*#/"


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+|[^\w\s]", text.lower())


def _side(prefix: str, text: str | None) -> dict[str, float]:
    text = text or ""
    words = _words(text)
    first, second = (words + ["<none>", "<none>"])[:2]
    features = {f"{prefix}1={first}": 1.0, f"{prefix}2={second}": 1.0, f"{prefix}12={first} {second}": 1.0,
                f"{prefix}_chars": math.log1p(len(text)), f"{prefix}_words": math.log1p(len(text.split()))}
    for mark in PUNCTUATION:
        features[f"{prefix}_count{mark}"] = float(text.count(mark))
    return features


def form_features(prompts: Sequence[str], responses: Sequence[str | None]) -> list[dict[str, float]]:
    """One feature dict per row: prompt side (p…) and answer side (r…) form features."""
    return [_side("p", p) | _side("r", r) for p, r in zip(prompts, responses)]


def form_model():
    """The form-only classifier: one-hot words and scaled counts into a class-balanced logistic regression."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler

    return make_pipeline(DictVectorizer(), MaxAbsScaler(),
                         LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000))


def form_auroc(prompts: Sequence[str], responses: Sequence[str | None], labels: Sequence[bool], folds: int = 5,
               seed: int = 0) -> dict:
    """Out-of-fold AUROC of the form-only logistic regression ({auroc, fold_aurocs, rows, positives})."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=bool)
    folds = min(folds, int(y.sum()), int((~y).sum()))
    if folds < 2:
        raise ValueError(f"the form baseline needs ≥ 2 rows of each class (got {int(y.sum())} harmful, "
                         f"{int((~y).sum())} other)")
    features = form_features(prompts, responses)
    scores, per_fold = np.zeros(len(y)), []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        model = form_model()
        model.fit([features[i] for i in train], y[train])
        scores[test] = model.predict_proba([features[i] for i in test])[:, 1]
        per_fold.append(float(roc_auc_score(y[test], scores[test])))
    return {"auroc": float(roc_auc_score(y, scores)), "fold_aurocs": per_fold, "rows": len(y),
            "positives": int(y.sum())}


def check_corpus(name: str, max_auroc: float = MAX_AUROC) -> dict:
    """The form baseline on one registry corpus, with verdict PASS (AUROC ≤ max_auroc) or FAIL."""
    from curate.datasets import load_dataset_table

    table = load_dataset_table(name)
    result = form_auroc(table["prompt"].to_pylist(), table["response"].to_pylist(),
                        table["is_harmful"].to_pylist())
    return {"corpus": name, **result, "max_auroc": max_auroc,
            "verdict": "PASS" if result["auroc"] <= max_auroc else "FAIL"}


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA))
    parser.add_argument("--max-auroc", type=float, default=MAX_AUROC)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = [check_corpus(name, args.max_auroc) for name in args.corpora]
    print("| corpus | rows | harmful | form-only AUROC (5-fold) | verdict |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['corpus']} | {r['rows']} | {r['positives']} | {r['auroc']:.3f} | {r['verdict']} |")
    if args.out:
        write_json(args.out, results)
    failed = [r["corpus"] for r in results if r["verdict"] == "FAIL"]
    if failed:
        print(json.dumps({"FAIL": failed, "why": f"form-only AUROC above {args.max_auroc}: rebuild these corpora"}))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
