"""Sinkhorn over a sharded corpus: the loop of transport/sinkhorn.py (solve_rows) on a row side held by the workers.

Workers hold the source weights a, the potential f, and for sparse kernels the absorbed kernel K̃ and the scaling
u (transport/dask_worker.py). The driver holds g (or g0 and v), b, the isolated-anchor mask and the Anderson
memory, all [m]. One iteration is one call per worker: the driver sends g or b·v [m]; each worker answers with a
per-anchor log-sum-exp pair (log domain, stream kernels) or a per-anchor sum Σ_i K̃_ij a_i u_i (scaling domain,
sparse kernels) [m], plus a few scalars. `problem` names the kernel ('pull' or 'push') on the workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from transport.distributed import ShardedCorpus, merged_lse
from transport.sinkhorn import solve_rows

__all__ = ["ShardedRows", "ShardedSolve", "ShardedState", "sharded_sinkhorn"]


@dataclass
class ShardedState:
    """The anchor half of an absorbed scaling-domain state; f0, K̃ and u stay on the workers."""

    g0: torch.Tensor
    v: torch.Tensor


@dataclass
class ShardedSolve:
    """A solve's result without f (the workers keep it as f_<problem>): g [m], value, L1 anchor error, iterations."""

    g: torch.Tensor
    value: float
    marginal_error: float
    iterations: int
    converged: bool
    state: ShardedState | None = None


def _numpy(t: torch.Tensor):
    return t.cpu().numpy()


class ShardedRows:
    """transport._rows.RowSide of the workers' `problem` kernels: every method is one call per worker, merged here."""

    def __init__(self, corpus: ShardedCorpus, problem: str, eps: float, dtype: torch.dtype):
        self.corpus, self.problem, self.eps, self.dtype = corpus, problem, float(eps), dtype

    def _sum(self, method: str, *args) -> torch.Tensor:
        return torch.from_numpy(self.corpus.sum(method, self.problem, *args)).to(self.dtype)

    def potential(self, h: torch.Tensor, want_col: bool = True) -> tuple[torch.Tensor | None, float]:
        replies = self.corpus.call("row_potential", self.problem, _numpy(h), want_col)
        log_s = merged_lse([r[0] for r in replies], self.dtype) if want_col else None
        return log_s, sum(r[1] for r in replies)

    def absorb(self, h: torch.Tensor, g0: torch.Tensor) -> torch.Tensor:
        return self._sum("absorb", _numpy(h), _numpy(g0))

    def absorb_potential(self, g0: torch.Tensor) -> torch.Tensor:
        return self._sum("absorb_potential", _numpy(g0))

    def reabsorb(self, g0: torch.Tensor) -> torch.Tensor:
        return self._sum("reabsorb", _numpy(g0))

    def resume(self) -> torch.Tensor:
        return self._sum("col_scaled")

    def scale(self, bv: torch.Tensor) -> tuple[bool, float, torch.Tensor]:
        replies = self.corpus.call("row_scaled", self.problem, _numpy(bv))
        s = torch.from_numpy(sum((r[2] for r in replies[1:]), replies[0][2])).to(self.dtype)
        return all(r[0] for r in replies), max(r[1] for r in replies), s

    def finish(self) -> float:
        return self.corpus.sum("finish_scaled", self.problem)


def sharded_sinkhorn(corpus: ShardedCorpus, problem: str, b: torch.Tensor, *, eps: float, rho: float | None = None,
                     g0: torch.Tensor | None = None, max_iter: int = 1000, tol: float = 1e-6, check_every: int = 1,
                     state: ShardedState | None = None, anderson: int = 0,
                     isolated: torch.Tensor | None = None) -> ShardedSolve:
    """sinkhorn_kernel over the workers' `problem` kernels for the weights they hold (a) and anchor masses b [m].

    isolated [m] (anchors no row reaches) given: the kernels are sparse and iterate in the scaling domain, as
    sinkhorn_kernel does for kernels with `absorb`; None: stream kernels, log domain. f stays on the workers.
    """
    rows = ShardedRows(corpus, problem, eps, b.dtype)
    g, value, error, it, converged, anchor_state = solve_rows(
        rows, b, rho=rho, g0=g0, max_iter=max_iter, tol=tol, check_every=check_every, isolated=isolated,
        state=None if state is None else (state.g0, state.v), anderson=anderson)
    return ShardedSolve(g, value, error, it, converged, None if anchor_state is None else ShardedState(*anchor_state))
