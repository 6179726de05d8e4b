"""Concept directions (difference of means, unit norm) and merging of near-duplicate directions."""

from __future__ import annotations

import numpy as np

from curate.errors import InputError

__all__ = ["mean_difference", "merge_duplicates"]


def mean_difference(activations: np.ndarray, pos_index: np.ndarray, neg_index: np.ndarray) -> np.ndarray:
    """d_c = mean_{x ∈ X⁺_c} z(x) − mean_{x ∈ X⁻_c} z(x), unit-normalised.

    activations [n, d]; pos_index [K, p], neg_index [K, q] into its rows, −1 = missing (ignored); a concept
    needs ≥ 1 positive and ≥ 1 negative. Returns [K, d] float32.
    """
    if (pos_index.max(initial=-1) >= len(activations)) or (neg_index.max(initial=-1) >= len(activations)):
        raise InputError("mean_difference: a stimulus index is past the activation rows; activations and "
                         "stimuli do not match")
    pos_ok, neg_ok = pos_index >= 0, neg_index >= 0
    if not (pos_ok.any(1) & neg_ok.any(1)).all():
        raise InputError("mean_difference: some concepts have no positive or no negative stimuli; drop them first")
    acts = activations.astype(np.float64, copy=False)

    def mean(index, ok):
        total = (acts[np.maximum(index, 0)] * ok[..., None]).sum(1)
        return total / ok.sum(1, keepdims=True)

    directions = mean(pos_index, pos_ok) - mean(neg_index, neg_ok)
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    return (directions / np.maximum(norms, 1e-12)).astype(np.float32)


def merge_duplicates(directions: np.ndarray, threshold: float = 0.95, block: int = 2048) -> np.ndarray:
    """Leader clustering in rank order: concept i joins the first earlier leader whose direction has cosine
    ≥ threshold with its own, else it leads a cluster. directions [K, d] unit rows (several layers may be
    concatenated and rescaled to unit norm). Returns leader [K]: the index of each concept's leader (itself
    for leaders)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(directions, dtype=np.float32))
    x = torch.nn.functional.normalize(x, dim=1)
    K = len(x)
    leader = np.arange(K)
    is_leader = torch.zeros(K, dtype=torch.bool)
    for start in range(0, K, block):
        rows = x[start:start + block]
        earlier = (rows @ x[:start].T) if start else torch.zeros(len(rows), 0)
        within = rows @ rows.T
        for k in range(len(rows)):
            i = start + k
            hits = torch.nonzero((earlier[k] >= threshold) & is_leader[:start]).flatten()
            if len(hits) == 0:
                inner = torch.nonzero((within[k, :k] >= threshold) & is_leader[start:i]).flatten()
                hits = inner + start
            if len(hits):
                leader[i] = int(hits[0])
            else:
                is_leader[i] = True
    return leader
