"""One shard's log-kernel, built where the shard lives (a Dask worker, or the local process for the sparse solver),
and the partial column reduction that lets shards be merged.

    col_pair(K, h)_j = (t_j, s_j)  with  t_j = max_i (h_i − C_ij/eps),  s_j = Σ_i exp(h_i − C_ij/eps − t_j)

so col_lse(h) = log s + t, and the pairs of disjoint row blocks merge exactly (stream.merge_lse). FAISS runs on
the GPU of --device when faiss.get_num_gpus() > 0 (faiss-gpu installed), on the CPU otherwise.

The kNN graph of a row does not depend on where it is searched (thread count, batch, device): see
transport.sparse.knn_anchors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from curate.errors import ConfigError
from transport.sparse import SparseKernel, knn_anchors, settle_ties
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


def knn_graph(x: np.ndarray, y: np.ndarray, knn: int, *, seed: int = 0, device: torch.device | None = None,
              batch_size: int = 65_536, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """transport.sparse.knn_anchors (near ties settled there, so the graph does not depend on the layout), searched
    on the GPU when `device` is CUDA and FAISS can use it."""
    if device is None or device.type != "cuda" or faiss_gpu_count() == 0:
        return knn_anchors(x, y, knn, seed=seed, batch_size=batch_size, progress=progress)
    return knn_anchors(x, y, knn, seed=seed, batch_size=batch_size, progress=progress,
                       place=lambda index: faiss_on_device(index, device))


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
