"""One shard's log-kernel, built where the shard lives (a Dask worker, or the local process for the sparse solver),
and the partial column reduction that lets shards be merged.

    col_pair(K, h)_j = (t_j, s_j)  with  t_j = max_i (h_i − C_ij/eps),  s_j = Σ_i exp(h_i − C_ij/eps − t_j)

so col_lse(h) = log s + t, and the pairs of disjoint row blocks merge exactly (stream.merge_lse). FAISS runs on
the GPU of --device when faiss.get_num_gpus() > 0 (faiss-gpu installed), on the CPU otherwise.

A row's kNN graph must not depend on where it is searched: FAISS's float32 similarities differ by ~1e-7 between
thread counts, batch sizes and devices, which flips the k-th neighbour of a row whose k-th and (k+1)-th anchors
are that close. One flipped edge can move a sparsely reached anchor's whole mass to another row (measured: Dask
workers with one OpenMP thread against a local run with two, 1e-2 apart in a weight at n = 2e4). knn_graph
therefore searches KNN_MARGIN candidates more and decides near ties (gap < TIE_TOL) with costs recomputed in
float64 row by row, ties broken by the lower anchor index, so every layout gets the same graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from curate.errors import ConfigError
from transport.sparse import SparseKernel, knn_anchors
from transport.stream import StreamKernel

__all__ = ["KernelSettings", "build_kernel", "col_pair", "knn_graph", "settle_ties", "faiss_on_device",
           "faiss_gpu_count"]

_GPU_RESOURCES: dict[int, object] = {}


@dataclass(frozen=True)
class KernelSettings:
    """What a shard's kernel needs: solver (sparse | stream), eps, knn, seed, --device and --dtype."""

    solver: str
    eps: float
    knn: int = 32
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"

    @cached_property
    def torch_device(self) -> torch.device:
        from curate.device import resolve_device

        return resolve_device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32


def faiss_gpu_count() -> int:
    """GPUs FAISS can use here (0 with faiss-cpu)."""
    import faiss

    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


def faiss_on_device(index, device: torch.device):
    """`index` moved to the GPU of a CUDA `device` when FAISS has GPU support (HNSW stays on the CPU: FAISS has no
    GPU HNSW); unchanged otherwise. Search results equal the CPU index's up to float rounding and ties."""
    import faiss

    if device.type != "cuda" or faiss_gpu_count() == 0 or isinstance(index, faiss.IndexHNSW):
        return index
    gpu = device.index or 0
    if gpu not in _GPU_RESOURCES:
        _GPU_RESOURCES[gpu] = faiss.StandardGpuResources()
    return faiss.index_cpu_to_gpu(_GPU_RESOURCES[gpu], gpu, index)


KNN_MARGIN = 8
"""Candidates searched beyond the k-th, among which near ties at the k-th place are decided exactly."""
TIE_TOL = 1e-5
"""Cost gap between the k-th and (k+1)-th candidate below which FAISS's float32 order is not trusted (its rounding
differences are ~1e-6 for unit vectors of a few hundred dimensions)."""


def knn_graph(x: np.ndarray, y: np.ndarray, knn: int, *, seed: int = 0, device: torch.device | None = None,
              batch_size: int = 65_536, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """transport.sparse.knn_anchors (cost [n, knn] float32, anchor index [n, knn]) with its near ties at the k-th
    place settled exactly (see the module docstring), searched on the GPU when `device` is CUDA and FAISS can use
    it. The graph of a row does not depend on the other rows searched with it, the thread count or the device."""
    margin = min(KNN_MARGIN, len(y) - knn) if knn >= 1 else 0  # knn out of range: knn_anchors says so
    place = None
    if device is not None and device.type == "cuda" and faiss_gpu_count() > 0:
        def place(index):
            return faiss_on_device(index, device)
    cost, idx = knn_anchors(x, y, knn + max(margin, 0), seed=seed, batch_size=batch_size, progress=progress,
                            place=place)
    return settle_ties(x, y, cost, idx, knn)


def settle_ties(x: np.ndarray, y: np.ndarray, cost: np.ndarray, idx: np.ndarray, knn: int, *,
                tol: float = TIE_TOL, batch_rows: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The first `knn` of sorted candidates (cost, idx) [n, K ≥ knn]; rows whose k-th and (k+1)-th candidate costs
    are within `tol` take their `knn` cheapest candidates by float64 cost 1 − x·y (lower anchor index first on
    equal cost) instead. Returns float32 costs and int64 indices [n, knn]; −1 (no candidate) stays last."""
    if cost.shape[1] <= knn:
        return cost, idx
    out_cost, out_idx = cost[:, :knn].copy(), idx[:, :knn].copy()  # never a view: rows are rewritten
    near = np.flatnonzero((cost[:, knn] - cost[:, knn - 1] < tol) & (idx[:, knn] >= 0))
    for start in range(0, len(near), batch_rows):
        rows = near[start : start + batch_rows]
        exact = _exact_costs(x[rows], y, idx[rows])
        order = np.lexsort((idx[rows], exact), axis=-1)[:, :knn]
        out_idx[rows] = np.take_along_axis(idx[rows], order, axis=1)
        out_cost[rows] = np.clip(np.take_along_axis(exact, order, axis=1), 0.0, 2.0)
    return out_cost, out_idx


def _exact_costs(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """1 − x_r · y_idx[r, c] in float64 [rows, K] (+inf where idx = −1); each entry is one dot product summed the
    same way whatever the other rows, so equal inputs give equal costs on any machine layout."""
    anchors = y[np.maximum(idx, 0)].astype(np.float64)  # [rows, K, d]
    sims = (anchors * x.astype(np.float64)[:, None, :]).sum(axis=-1)  # a pairwise sum along d per entry
    return np.where(idx >= 0, 1.0 - sims, np.inf)


def build_kernel(x: np.ndarray, y: np.ndarray, settings: KernelSettings):
    """The kernel of unit rows x [n, d] against unit anchors y [m, d] on the settings' device and dtype."""
    device, dtype = settings.torch_device, settings.torch_dtype
    if settings.solver == "sparse":
        cost, idx = knn_graph(x, y, min(settings.knn, len(y)), seed=settings.seed, device=device)
        return SparseKernel(torch.from_numpy(cost).to(device, dtype), torch.from_numpy(idx).to(device), len(y),
                            settings.eps)
    if settings.solver == "stream":
        return StreamKernel(torch.from_numpy(np.ascontiguousarray(x)).to(device, dtype),
                            torch.from_numpy(np.ascontiguousarray(y)).to(device, dtype), settings.eps)
    raise ConfigError(f"a shard kernel is sparse or stream (got {settings.solver!r})")


def col_pair(kernel, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(max, Σ exp(· − max)) per anchor [m] of h_i − C_ij/eps over the kernel's rows; see the module docstring."""
    if isinstance(kernel, SparseKernel):
        v = torch.sub(h[:, None], kernel.cost, alpha=1.0 / kernel.eps).reshape(-1)
        top = torch.full((kernel.m,), -math.inf, dtype=v.dtype, device=v.device)
        top = top.scatter_reduce(0, kernel.flat, v, reduce="amax", include_self=True)
        safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        return top, torch.zeros_like(top).index_add_(0, kernel.flat, torch.exp(v - safe[kernel.flat]))
    return kernel.col_pair(h)
