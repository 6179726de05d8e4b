"""The row side of a Sinkhorn solve: what the solver loop (sinkhorn.py) asks of whoever holds the source rows.

A Sinkhorn solve splits at the row/anchor boundary. The loop keeps the anchor side, all [m]: g (or g0 and the
scaling v), b, the isolated-anchor mask and the Anderson memory. The row side keeps the source weights a [n], the
potential f [n] and, in the scaling domain, the absorbed kernel K̃ and the scaling u [n]; every call sends O(m)
numbers and answers O(m). `KernelRows` is the row side of an in-memory LogKernel (dense, sparse, streamed);
dask_sinkhorn.ShardedRows is the same for rows held by Dask workers, so one loop serves both.

Log domain:      potential(h) sets f_i = −eps · log Σ_j exp(h_j − C_ij/eps) and answers
                 (log Σ_i exp(log a_i + f_i/eps − C_ij/eps) [m] or None, Σ_i f_i a_i).
Scaling domain:  K̃_ij = exp((f0_i + g0_j − C_ij)/eps), f = f0 + eps·log u; every call answers s = K̃ᵀ(a·u) [m].
"""

from __future__ import annotations

from typing import Protocol

import torch

__all__ = ["RowSide", "KernelRows"]


class RowSide(Protocol):
    eps: float

    def potential(self, h: torch.Tensor, want_col: bool = True) -> tuple[torch.Tensor | None, float]:
        """f = −eps · row_lse(h); (col_lse(log a + f/eps) [m], or None when not wanted; Σ f·a)."""
        ...

    def absorb(self, h: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
        """f0 = −eps · row_lse(h), K̃ built at (f0, g0), u = 1; s [m]."""
        ...

    def absorb_potential(self, g0: torch.Tensor) -> torch.Tensor:
        """K̃ rebuilt at (f, g0) with the f the last `potential` call left, u = 1; s [m]."""
        ...

    def reabsorb(self, g0: torch.Tensor) -> torch.Tensor:
        """f0 ← f0 + eps·log u, K̃ rebuilt at (f0, g0), u = 1; s [m]."""
        ...

    def resume(self) -> torch.Tensor:
        """s [m] for the current u and the current weights a (a warm restart after a change of a)."""
        ...

    def scale(self, bv: torch.Tensor) -> tuple[bool, float, torch.Tensor]:
        """u = 1 / K̃(b·v); (u finite everywhere, max |log u|, s [m])."""
        ...

    def finish(self) -> float:
        """f = f0 + eps·log u, the solve's source potential; Σ f·a."""
        ...


class KernelRows:
    """RowSide of an in-memory LogKernel for weights a [n]; `f` is the last source potential.

    `state` (f0, K̃, u) resumes a previous solve on the same kernel: K̃ does not depend on a."""

    def __init__(self, kernel, a: torch.Tensor, state: tuple | None = None):
        self.kernel, self.a, self.eps = kernel, a, kernel.eps
        self.log_a = torch.log(a)
        self.f0, self.scaling, self.u = state if state is not None else (None, None, None)
        self.f: torch.Tensor | None = None

    @property
    def state(self) -> tuple:
        return self.f0, self.scaling, self.u

    def isolated(self) -> torch.Tensor:
        return self.scaling.isolated()

    def potential(self, h: torch.Tensor, want_col: bool = True) -> tuple[torch.Tensor | None, float]:
        self.f = -self.eps * self.kernel.row_lse(h)
        log_s = self.kernel.col_lse(self.log_a + self.f / self.eps) if want_col else None
        return log_s, float((self.f * self.a).sum())

    def _absorb(self, f0: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
        self.f0, self.scaling, self.u = f0, self.kernel.absorb(f0, g0), torch.ones_like(self.a)
        return self.resume()

    def absorb(self, h: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
        self.potential(h, want_col=False)
        return self._absorb(self.f, g0)

    def absorb_potential(self, g0: torch.Tensor) -> torch.Tensor:
        return self._absorb(self.f, g0)

    def reabsorb(self, g0: torch.Tensor) -> torch.Tensor:
        return self._absorb(self.f0 + self.eps * torch.log(self.u), g0)

    def resume(self) -> torch.Tensor:
        return self.scaling.col(self.a * self.u)

    def scale(self, bv: torch.Tensor) -> tuple[bool, float, torch.Tensor]:
        self.u = 1.0 / self.scaling.row(bv)
        largest = float(torch.log(self.u).abs().max()) if len(self.u) else 0.0
        return bool(torch.isfinite(self.u).all()), largest, self.resume()

    def finish(self) -> float:
        self.f = self.f0 + self.eps * torch.log(self.u)
        return float((self.f * self.a).sum())
