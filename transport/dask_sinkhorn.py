"""Sinkhorn over a sharded corpus: the iterations of transport/sinkhorn.py (same maths, same order, same stopping
rule), with every row-side quantity on the workers and the anchor side here.

Workers hold the source weights a, the potential f, and for sparse kernels the absorbed kernel K̃ and the scaling
u (transport/dask_worker.py). The driver holds g (or g0 and v), b, the isolated-anchor mask and the Anderson
memory, all [m]. One iteration is one call per worker: the driver sends g or b·v [m]; each worker answers with a
per-anchor log-sum-exp pair (log domain, stream kernels) or a per-anchor sum Σ_i K̃_ij a_i u_i (scaling domain,
sparse kernels) [m], plus a few scalars. `problem` names the kernel ('pull' or 'push') on the workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from transport.distributed import ShardedCorpus, merged_lse
from transport.sinkhorn import _anchor_error, _Anderson, _check, _mass_shift

__all__ = ["ShardedSolve", "ShardedState", "sharded_sinkhorn"]


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


def _value(fa: float, g: torch.Tensor, b: torch.Tensor, rho: float | None, isolated: torch.Tensor) -> float:
    """The dual value of sinkhorn._value, with <f, a> summed by the workers."""
    if rho is None:
        return fa + float((g * b).sum())
    relax = torch.where(isolated, rho * b, rho * b * (1.0 - torch.exp(-g / rho)))
    return fa + float(relax.sum())


def _log_loop(corpus: ShardedCorpus, problem: str, eps: float, log_b, g, lam, rho, iters, tol, check_every):
    """sinkhorn._log_loop; returns (g, error, iterations, converged, isolated, Σ f·a)."""
    b = torch.exp(log_b)
    replies = corpus.call("row_potential", problem, _numpy(log_b + g / eps), True)
    error, it, isolated = math.inf, 0, torch.zeros_like(b, dtype=torch.bool)
    for it in range(1, iters + 1):
        log_s = merged_lse([r[0] for r in replies], b.dtype)
        fa = sum(r[1] for r in replies)
        isolated = ~torch.isfinite(log_s)
        if it % check_every == 0 or it == iters:
            error = _anchor_error(torch.exp(log_b + g / eps + log_s), g, b, rho, isolated)
            if error <= tol:
                return g, error, it, True, isolated, fa
        g = torch.where(isolated, torch.zeros_like(log_s), -eps * lam * log_s)
        g = torch.where(isolated, g, g + _mass_shift(g, b, rho, isolated))
        replies = corpus.call("row_potential", problem, _numpy(log_b + g / eps), it < iters)
    return g, error, it, False, isolated, sum(r[1] for r in replies)


def _exact_step(corpus: ShardedCorpus, problem: str, eps: float, log_b, g, lam, rho) -> torch.Tensor:
    """One exact log-domain step (sinkhorn._log_loop with one iteration and tol 0); leaves f on the workers."""
    g, *_ = _log_loop(corpus, problem, eps, log_b, g, lam, rho, 1, 0.0, 1)
    return g


class _ScalingLoop:
    """sinkhorn._scaling_loop over the workers; `s` is Σ_i K̃_ij a_i u_i [m] for the current u."""

    def __init__(self, corpus: ShardedCorpus, problem: str, eps: float, b: torch.Tensor, rho, lam,
                 isolated: torch.Tensor):
        self.corpus, self.problem, self.eps, self.b, self.rho, self.lam = corpus, problem, eps, b, rho, lam
        self.isolated = isolated

    def _sum(self, method: str, *args) -> torch.Tensor:
        return torch.from_numpy(self.corpus.sum(method, self.problem, *args)).to(self.b.dtype)

    def start(self, g: torch.Tensor, state: ShardedState | None):
        if state is None:
            s = self._sum("absorb", _numpy(torch.log(self.b) + g / self.eps), _numpy(g))
            return g, torch.ones_like(self.b), s
        return state.g0, state.v, self._sum("col_scaled")

    def run(self, g, state, iters, tol, check_every, anderson):
        eps, b, rho, lam, isolated = self.eps, self.b, self.rho, self.lam, self.isolated
        bound = 10.0 if b.dtype == torch.float32 else 30.0
        g0, v, s = self.start(g, state)
        error, last_error, it = math.inf, math.inf, 0
        mixer = _Anderson(anderson) if anderson > 0 else None
        for it in range(1, iters + 1):
            g = g0 + eps * torch.log(v)
            if it % check_every == 0 or it == iters or mixer is not None:
                error = _anchor_error(b * v * s, g, b, rho, isolated)
                if error <= tol:
                    return g, error, it, True, ShardedState(g0, v)
            lost = (s <= 0) & ~isolated
            v = torch.where(isolated, torch.exp(-g0 / eps), torch.exp((lam - 1.0) * g0 / eps) * s.pow(-lam))
            if rho is not None:
                shift = _mass_shift(g0 + eps * torch.log(v), b, rho, isolated)
                v = torch.where(isolated, v, v * torch.exp(shift / eps))
            if mixer is not None and not bool(lost.any()):
                if error > 2.0 * last_error:
                    mixer.reset()
                last_error = min(error, last_error) if mixer.xs else error
                mixed = mixer(g, g0 + eps * torch.log(v))
                v = torch.where(isolated, v, torch.exp((mixed - g0) / eps))
            replies = self.corpus.call("row_scaled", self.problem, _numpy(b * v))
            finite = all(r[0] for r in replies)
            largest = max(r[1] for r in replies)
            s = torch.from_numpy(sum((r[2] for r in replies[1:]), replies[0][2])).to(b.dtype)
            if bool(lost.any()) or not (finite and bool(torch.isfinite(v).all())):
                g0 = _exact_step(self.corpus, self.problem, eps, torch.log(b), g, lam, rho)
                s, v = self._sum("absorb_potential", _numpy(g0)), torch.ones_like(b)
                if mixer is not None:
                    mixer.reset()
            elif largest > bound or float(torch.log(v).abs().max()) > bound:
                g0 = g0 + eps * torch.log(v)
                s, v = self._sum("reabsorb", _numpy(g0)), torch.ones_like(b)
        return g0 + eps * torch.log(v), error, it, False, ShardedState(g0, v)


def sharded_sinkhorn(corpus: ShardedCorpus, problem: str, b: torch.Tensor, *, eps: float, rho: float | None = None,
                     g0: torch.Tensor | None = None, max_iter: int = 1000, tol: float = 1e-6, check_every: int = 1,
                     state: ShardedState | None = None, anderson: int = 0,
                     isolated: torch.Tensor | None = None) -> ShardedSolve:
    """sinkhorn_kernel over the workers' `problem` kernels for the weights they hold (a) and anchor masses b [m].

    isolated [m] (anchors no row reaches) given: the kernels are sparse and iterate in the scaling domain, as
    sinkhorn_kernel does for kernels with `absorb`; None: stream kernels, log domain. f stays on the workers.
    """
    _check(eps, rho)
    lam = 1.0 if rho is None else rho / (rho + eps)
    g = torch.zeros_like(b) if g0 is None else g0.to(b).clone()
    if isolated is not None and max_iter > 0:
        loop = _ScalingLoop(corpus, problem, eps, b, rho, lam, isolated)
        g, error, it, converged, state = loop.run(g, state, max_iter, tol, check_every, anderson)
        fa = corpus.sum("finish_scaled", problem)
    else:
        state = None
        g, error, it, converged, isolated, fa = _log_loop(corpus, problem, eps, torch.log(b), g, lam, rho, max_iter,
                                                         tol, check_every)
    return ShardedSolve(g, _value(fa, g, b, rho, isolated), error, it, converged, state)
