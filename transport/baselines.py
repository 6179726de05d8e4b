"""Baselines shipped beside SOT: uniform and the instance-level nearest-neighbour heuristic.

(The single-reference OT baselines, pull-only and push-only, are `push_pull` with one kernel; see pushpull.py.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["uniform_weights", "heuristic_scores", "scores_to_weights"]


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


def scores_to_weights(risk: np.ndarray, temperature: float) -> np.ndarray:
    """Weights n·softmax(−risk/temperature) [n] (mean 1): the higher the risk, the lower the weight."""
    z = -np.asarray(risk, dtype=np.float64) / temperature
    z -= z.max()
    w = np.exp(z)
    return w * (len(w) / w.sum())
