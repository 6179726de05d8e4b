"""Log-kernels: the two log-sum-exp reductions a log-domain Sinkhorn needs, for a dense cost matrix.

For a cost C [n, m] and entropic regularisation eps, a kernel provides
    row_lse(h)[i] = log Σ_j exp(h_j − C_ij / eps)        h: [m] → [n]
    col_lse(h)[j] = log Σ_i exp(h_i − C_ij / eps)        h: [n] → [m]
Sparse, streamed and Dask kernels implement the same two methods (see sparse.py, stream.py, distributed.py).
"""

from __future__ import annotations

from typing import Protocol

import torch

__all__ = ["LogKernel", "DenseKernel"]


class LogKernel(Protocol):
    n: int
    m: int
    eps: float

    def row_lse(self, h: torch.Tensor) -> torch.Tensor: ...

    def col_lse(self, h: torch.Tensor) -> torch.Tensor: ...


class DenseKernel:
    """The cost matrix held in memory (n·m entries); the fastest choice when it fits."""

    def __init__(self, cost: torch.Tensor, eps: float):
        self.scaled = cost / eps  # C / eps, [n, m]
        self.n, self.m = cost.shape
        self.eps = float(eps)

    def row_lse(self, h: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(h[None, :] - self.scaled, dim=1)

    def col_lse(self, h: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(h[:, None] - self.scaled, dim=0)
