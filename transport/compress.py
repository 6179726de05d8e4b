"""Anchor compression: FAISS spherical k-means; each centroid carries the mass of its cluster."""

from __future__ import annotations

import numpy as np

from curate.errors import ConfigError

__all__ = ["compress_anchors"]


def compress_anchors(
    y: np.ndarray, masses: np.ndarray | None, clusters: int, *, seed: int = 0, niter: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Replace m unit anchors y [m, d] (masses [m], default uniform) by ≤ clusters unit centroids [M, d].

    Mass of a centroid = total mass of the anchors assigned to it (empty clusters are dropped), so the anchor
    measure keeps total mass 1. Returns the input unchanged when clusters ≥ m.
    """
    import faiss

    m, d = y.shape
    masses = np.full(m, 1.0 / m) if masses is None else np.asarray(masses, dtype=np.float64)
    if clusters < 1:
        raise ConfigError(f"--anchor-clusters must be ≥ 1 (got {clusters})")
    if clusters >= m:
        return y, masses
    y32 = np.ascontiguousarray(y, dtype=np.float32)
    km = faiss.Kmeans(d, clusters, niter=niter, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=max(256, m // clusters + 1))
    km.train(y32)
    _, assign = km.index.search(y32, 1)
    mass = np.bincount(assign[:, 0], weights=masses, minlength=clusters)
    keep = mass > 0
    centroids = km.centroids[keep]
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return centroids.astype(y.dtype, copy=False), mass[keep] / mass[keep].sum()
