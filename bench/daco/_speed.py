"""Sparse-coding speed: our batched OMP vs scikit-learn's sparse_encode(algorithm="omp") on the same data."""

from __future__ import annotations

import time

import numpy as np


def omp_speed(activations: np.ndarray, atoms: np.ndarray, k: int, repeats: int = 1) -> dict:
    """Seconds and reconstruction errors of both on activations [n, d] over atoms [K, d] at k non-zeros."""
    import torch
    from sklearn.decomposition import sparse_encode

    from concepts.decompose import decompose

    x32, d32 = activations.astype(np.float32), atoms.astype(np.float32)
    decompose(x32[:8], d32, k=k)  # warm-up (allocations, thread pool)
    started = time.perf_counter()
    for _ in range(repeats):
        ours = decompose(torch.from_numpy(x32), torch.from_numpy(d32), k=k)
    ours_s = (time.perf_counter() - started) / repeats
    started = time.perf_counter()
    ref = sparse_encode(x32, d32, algorithm="omp", n_nonzero_coefs=k)
    sk_s = time.perf_counter() - started
    norm = np.linalg.norm(x32, axis=1)
    ours_err = np.linalg.norm(ours.residual.numpy(), axis=1) / norm
    sk_err = np.linalg.norm(x32 - ref @ d32, axis=1) / norm
    same = float(np.mean([set(np.flatnonzero(a)) == set(np.flatnonzero(b))
                          for a, b in zip(ours.codes.numpy(), ref, strict=True)]))
    return {"n": len(x32), "atoms": len(d32), "dim": x32.shape[1], "k": k, "ours_s": round(ours_s, 3),
            "sklearn_s": round(sk_s, 3), "speedup": round(sk_s / ours_s, 2),
            "ours_rel_error": float(ours_err.mean()), "sklearn_rel_error": float(sk_err.mean()),
            "max_abs_error_gap": float(np.abs(ours_err - sk_err).max()), "same_support": same}
