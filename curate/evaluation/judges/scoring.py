"""How well a judge agrees with labels: accuracy (Wilson interval), balanced accuracy (bootstrap over prompts),
recall per verdict (Wilson), and the confusion matrix; and how well two readers agree (raw, Cohen's kappa).

Answers to one prompt are not independent (the same request, several models), so the balanced-accuracy interval
resamples prompts, not answers; the Wilson interval on accuracy treats answers as independent and is the
narrower of the two for that reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curate.errors import InputError
from curate.evaluation.stats import rate

__all__ = ["balanced_accuracy", "cohen_kappa", "reader_agreement", "score_verdicts", "collapse_refusal"]


def collapse_refusal(verdicts: Sequence[str]) -> np.ndarray:
    """[n] str: "refusal" stays, every other verdict becomes "not-refusal" (for binary, cross-source scoring)."""
    return np.where(np.asarray(verdicts, dtype=str) == "refusal", "refusal", "not-refusal").astype(str)


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the classes present in `truth` of the share of that class predicted right."""
    classes = np.unique(truth)
    return float(np.mean([(predicted[truth == c] == c).mean() for c in classes])) if classes.size else float("nan")


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two labellings of the same answers: agreement beyond what their marginals give by chance."""
    observed = float(np.mean(a == b))
    expected = float(sum(np.mean(a == c) * np.mean(b == c) for c in np.union1d(a, b)))
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def _group_bootstrap(statistic, truth, predicted, groups, n_boot: int, seed: int,
                     confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of `statistic(truth, predicted)` (a float or a tuple of floats) with whole groups
    (prompts) resampled with replacement."""
    names, index = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(index == g) for g in range(len(names))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        rows = np.concatenate([members[g] for g in rng.integers(0, len(names), len(names))])
        values.append(statistic(truth[rows], predicted[rows]))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(np.asarray(values, dtype=float), [tail, 100 - tail], axis=0)
    return low, high


def _bootstrap(truth, predicted, groups, n_boot: int, seed: int, confidence: float) -> tuple[float, float]:
    """Percentile interval of balanced accuracy with whole groups (prompts) resampled with replacement."""
    low, high = _group_bootstrap(balanced_accuracy, truth, predicted, groups, n_boot, seed, confidence)
    return float(low), float(high)


def reader_agreement(a: Sequence[str], b: Sequence[str], groups: Sequence, n_boot: int = 2000, seed: int = 0,
                     confidence: float = 0.95) -> dict:
    """{n, agreement: {rate, low, high}, kappa: {value, low, high}, n_boot}: how often two readings of the same
    answers agree, raw and as Cohen's kappa, with intervals from resampling whole `groups` (prompts)."""
    a, b = np.asarray(a, dtype=str), np.asarray(b, dtype=str)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise InputError(f"reader_agreement: {a.shape} vs {b.shape} readings; give one each per answer")

    def statistic(x, y):
        return float(np.mean(x == y)), cohen_kappa(x, y)

    low, high = _group_bootstrap(statistic, a, b, np.asarray(groups, dtype=str), n_boot, seed, confidence)
    observed, kappa = statistic(a, b)
    return {"n": int(a.size), "agreement": {"rate": observed, "low": float(low[0]), "high": float(high[0])},
            "kappa": {"value": kappa, "low": float(low[1]), "high": float(high[1])}, "n_boot": n_boot}


def score_verdicts(truth: Sequence[str], predicted: Sequence[str], groups: Sequence | None = None,
                   n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict:
    """{n, accuracy: {rate, low, high, k, n}, balanced_accuracy: {value, low, high, n_groups, n_boot},
    recall: {class: {rate, low, high, k, n}}, confusion: {true class: {predicted class: count}}}.

    `groups` (e.g. prompt ids) are the units the bootstrap resamples; default: every answer its own group.
    """
    truth, predicted = np.asarray(truth, dtype=str), np.asarray(predicted, dtype=str)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise InputError(f"score_verdicts: {truth.shape} labels vs {predicted.shape} predictions; "
                         "give one each per answer")
    groups = np.arange(truth.size) if groups is None else np.asarray(groups, dtype=str)
    classes, present = sorted(set(truth) | set(predicted)), sorted(set(truth))
    recall = {c: rate(int(((truth == c) & (predicted == c)).sum()), int((truth == c).sum()), confidence)
              for c in present}
    low, high = _bootstrap(truth, predicted, groups, n_boot, seed, confidence) if truth.size else (np.nan, np.nan)
    return {
        "n": int(truth.size),
        "accuracy": rate(int((truth == predicted).sum()), int(truth.size), confidence),
        "balanced_accuracy": {"value": balanced_accuracy(truth, predicted), "low": low, "high": high,
                              "n_groups": int(np.unique(groups).size), "n_boot": n_boot},
        "recall": recall,
        "confusion": {t: {p: int(((truth == t) & (predicted == p)).sum()) for p in classes} for t in present},
    }
