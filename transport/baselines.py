"""Baselines shipped beside SOT: uniform, the instance-level nearest-neighbour heuristic, and a supervised instance
classifier trained on the two anchor sets.

(The single-reference OT baselines, pull-only and push-only, are `push_pull` with one kernel; see pushpull.py.)
Every score-based baseline turns a risk score r [n] into weights by `scores_to_weights(r, T)` = n·softmax(−r/T):
the ranking (AUROC) does not depend on T, the weight spread does, so T is tuned on validation corpora
(bench/sot/family.py) for the harmful mass the weights leave at a given effective sample size.
"""

from __future__ import annotations

import numpy as np

from curate.errors import InputError

__all__ = ["uniform_weights", "heuristic_scores", "classifier_scores", "scores_to_weights", "DEFAULT_TEMPERATURE"]

DEFAULT_TEMPERATURE = {"heuristic": 0.05, "classifier": 0.1}
"""Softmax temperature per score baseline when none is given: the heuristic's risk is a cosine gap in [−2, 2], the
classifier's a probability in [0, 1]."""


def uniform_weights(n: int) -> np.ndarray:
    """All ones [n] (mean 1)."""
    return np.ones(n, dtype=np.float64)


def heuristic_scores(x: np.ndarray, safe: np.ndarray, harmful: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour cosine to the safe and harmful anchors (each [n]), by exact FAISS inner-product search.

    The heuristic's risk score is nearest_harmful − nearest_safe: high means closer to harm than to safety.
    """
    from transport.sparse import build_anchor_index

    def nearest(y: np.ndarray) -> np.ndarray:
        sim, _ = build_anchor_index(np.ascontiguousarray(y, dtype=np.float32), "flat").search(
            np.ascontiguousarray(x, dtype=np.float32), 1)
        return sim[:, 0].astype(np.float64)

    return nearest(safe), nearest(harmful)


def classifier_scores(x: np.ndarray, safe: np.ndarray, harmful: np.ndarray, c: float = 1.0,
                      seed: int = 0) -> np.ndarray:
    """P(harmful | row) [n] from an L2 logistic regression fitted on safe [m_s, d] (label 0) vs harmful [m_h, d]
    (label 1) anchor features, classes weighted to equal mass (the two anchor sets rarely have the same size).

        p_i = σ(⟨θ, x_i⟩ + θ_0),   θ = argmin Σ_j c_j log(1 + exp(−s_j(⟨θ, y_j⟩ + θ_0))) + ‖θ‖² / (2c)
    """
    from sklearn.linear_model import LogisticRegression

    if len(safe) == 0 or len(harmful) == 0:
        raise InputError(f"the classifier baseline needs both anchor sets (got {len(safe)} safe, {len(harmful)} "
                         "harmful rows); give --safe and --harmful non-empty inputs")
    if x.shape[1] != safe.shape[1] or x.shape[1] != harmful.shape[1]:
        raise InputError(f"feature widths differ: corpus {x.shape[1]}, safe {safe.shape[1]}, harmful "
                         f"{harmful.shape[1]}; embed all three with the same --model and --features")
    features = np.vstack([safe, harmful]).astype(np.float64)
    labels = np.r_[np.zeros(len(safe)), np.ones(len(harmful))]
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(features, labels)
    return model.predict_proba(np.asarray(x, dtype=np.float64))[:, 1]


def scores_to_weights(risk: np.ndarray, temperature: float) -> np.ndarray:
    """Weights n·softmax(−risk/temperature) [n] (mean 1): the higher the risk, the lower the weight."""
    z = -np.asarray(risk, dtype=np.float64) / temperature
    z -= z.max()
    w = np.exp(z)
    return w * (len(w) / w.sum())
