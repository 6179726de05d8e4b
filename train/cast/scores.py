"""CAST head scores: optimisation conflict, rank normalisation and the combined score."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["conflict", "rank_normalise", "combine"]


def conflict(grad_safe: torch.Tensor, grad_util: torch.Tensor, eps: float = 1e-12) -> float:
    """O(h) = 1 − cos(g_safe, g_util) over a head's flattened slice gradients, in [0, 2]."""
    a, b = grad_safe.flatten().double(), grad_util.flatten().double()
    cos = (a @ b) / (a.norm() * b.norm()).clamp_min(eps)
    return float(1.0 - cos)


def rank_normalise(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to (0, 1]: the largest value gets 1, ties get their mean rank."""
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64)
    return rankdata(x) / len(x)


def combine(conflict_values: np.ndarray, sensitivity: np.ndarray, how: str = "product") -> np.ndarray:
    """Score = rank(O) · rank(S) ("product") or their mean ("mean")."""
    o, s = rank_normalise(conflict_values), rank_normalise(sensitivity)
    if how == "product":
        return o * s
    if how == "mean":
        return (o + s) / 2
    raise ValueError(f"combine: how={how!r} is not one of 'product', 'mean'")
