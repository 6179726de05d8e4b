"""Log-kernels: the two log-sum-exp reductions a log-domain Sinkhorn needs, for a dense cost matrix.

For a cost C [n, m] and entropic regularisation eps, a kernel provides
    row_lse(h)[i] = log Σ_j exp(h_j − C_ij / eps)        h: [m] → [n]
    col_lse(h)[j] = log Σ_i exp(h_i − C_ij / eps)        h: [n] → [m]
Sparse, streamed and Dask kernels implement the same two methods (see sparse.py, stream.py, distributed.py).

A kernel may also offer `absorb(f, g)`: the stabilised Gibbs kernel K̃_ij = exp((f_i + g_j − C_ij)/eps) with the
current potentials absorbed (Schmitzer's absorption stabilisation). Sinkhorn then iterates multiplicative scalings
u [n], v [m] with two products per iteration, K̃ v and K̃ᵀ u, instead of two exp passes over n·m entries, and
re-absorbs when the scalings leave a safe range. `eps` is a plain attribute, so a solver may anneal it.
"""

from __future__ import annotations

from typing import Protocol

import torch

__all__ = ["LogKernel", "DenseKernel", "DenseScaling"]


class LogKernel(Protocol):
    n: int
    m: int
    eps: float

    def row_lse(self, h: torch.Tensor) -> torch.Tensor: ...

    def col_lse(self, h: torch.Tensor) -> torch.Tensor: ...


class DenseScaling:
    """K̃ [n, m] held densely: row(v) = K̃ v [n], col(u) = K̃ᵀ u [m]; no anchor is isolated."""

    def __init__(self, cost: torch.Tensor, f: torch.Tensor, g: torch.Tensor, eps: float):
        self.k = torch.sub(g[None, :], cost).add_(f[:, None]).div_(eps).exp_()

    def row(self, v: torch.Tensor) -> torch.Tensor:
        return self.k @ v

    def col(self, u: torch.Tensor) -> torch.Tensor:
        return u @ self.k

    def isolated(self) -> torch.Tensor:
        return torch.zeros(self.k.shape[1], dtype=torch.bool, device=self.k.device)


class DenseKernel:
    """The cost matrix held in memory (n·m entries); the fastest choice when it fits."""

    def __init__(self, cost: torch.Tensor, eps: float):
        self.cost = cost  # [n, m]
        self.n, self.m = cost.shape
        self.eps = float(eps)

    def row_lse(self, h: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(torch.sub(h[None, :], self.cost, alpha=1.0 / self.eps), dim=1)

    def col_lse(self, h: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(torch.sub(h[:, None], self.cost, alpha=1.0 / self.eps), dim=0)

    def absorb(self, f: torch.Tensor, g: torch.Tensor) -> DenseScaling:
        return DenseScaling(self.cost.to(f.dtype), f, g, self.eps)
