"""Log-domain Sinkhorn with warm starts, returning potentials instead of a plan.

Entropic OT between source weights a [n] and anchor masses b [m] (both summing to 1) with cost C [n, m]:

    OT_eps(a, b) = min_P <P, C> + eps·KL(P ‖ a⊗b) + rho·KL(Pᵀ1 ‖ b)      s.t.  P 1 = a

(rho = None: balanced, Pᵀ1 = b exactly; finite rho: semi-relaxed anchor marginal). At the optimum
P_ij = a_i b_j exp((f_i + g_j − C_ij)/eps); the potentials f [n], g [m] are returned, never P.
Iterations (lam = rho/(rho+eps), 1 when balanced):
    g_j = −eps·lam · log Σ_i a_i exp((f_i − C_ij)/eps)       f_i = −eps · log Σ_j b_j exp((g_j − C_ij)/eps)
Value (dual): <f, a> + <g, b> (balanced) or <f, a> + rho·Σ_j b_j (1 − exp(−g_j/rho)) (semi-relaxed).
∂OT_eps/∂a_i = f_i up to an additive constant (envelope theorem), which is what pushpull.py uses.

Kernels with `absorb` (dense, sparse) run the same iterations in the absorption-stabilised scaling domain
(f = f0 + eps·log u, g = g0 + eps·log v; two matrix-vector products per iteration), optionally with Anderson
acceleration of g; `SinkhornResult.state` lets the next solve on the same kernel resume without rebuilding it.
The loop (solve_rows) is written once against transport._rows.RowSide: KernelRows for in-memory kernels,
dask_sinkhorn.ShardedRows for rows held by Dask workers.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from curate.errors import ConfigError
from transport._kernels import DenseKernel, LogKernel
from transport._rows import KernelRows, RowSide
from transport.cost import as_tensor

__all__ = ["SinkhornResult", "SinkhornWarning", "sinkhorn", "sinkhorn_kernel", "plan_from_potentials"]


class SinkhornWarning(UserWarning):
    """Sinkhorn stopped at max_iter before the marginal error reached tol."""


@dataclass
class SinkhornResult:
    """Plan-free result: potentials f [n], g [m], value, L1 marginal error on the anchor side, iterations used."""

    f: torch.Tensor | np.ndarray
    g: torch.Tensor | np.ndarray
    value: float
    marginal_error: float
    iterations: int
    converged: bool
    state: tuple | None = field(default=None, repr=False)
    """Absorbed scaling-domain state (g0, v, f0, K̃, u) for a warm restart on the same kernel; None on the log path."""


def _check(eps: float, rho: float | None) -> None:
    if not eps > 0:
        raise ConfigError(f"eps must be > 0 (got {eps}); with cost 1 − cos ∈ [0, 2] try --eps 0.05")
    if rho is not None and not rho > 0:
        raise ConfigError(f"rho must be > 0 or None for balanced OT (got {rho})")


def _anchor_error(q: torch.Tensor, g: torch.Tensor, b: torch.Tensor, rho: float | None,
                  isolated: torch.Tensor) -> float:
    """L1 gap between the plan's anchor marginal q and its optimality target (b, or b·exp(−g/rho) semi-relaxed).

    inf when a reached anchor's gap is not finite: an overflowed scaling must never read as converged."""
    target = b if rho is None else b * torch.exp(-g / rho)
    gap = torch.where(isolated, torch.zeros_like(target), q - target)  # unreached anchors: g = 0, no mass
    return float(gap.abs().sum()) if bool(torch.isfinite(gap).all()) else math.inf


def _mass_shift(g: torch.Tensor, b: torch.Tensor, rho: float | None, isolated: torch.Tensor) -> torch.Tensor:
    """Translation step of semi-relaxed Sinkhorn: the constant c maximising the dual along (f − c, g + c).

    With the source marginal exact, d/dc [<f − c, a> + rho·Σ_j b_j (1 − e^{−(g_j + c)/rho})] = 0 gives
    c = rho·log Σ_j b_j e^{−g_j/rho} (isolated anchors excluded). It fixes the global level of g, which otherwise
    contracts only by lam = rho/(rho + eps) per iteration; the same slow level modes of each weakly connected cluster
    remain, which _Anderson removes. Zero for balanced OT.
    """
    if rho is None:
        return torch.zeros((), dtype=g.dtype, device=g.device)
    terms = torch.where(isolated, torch.full_like(g, -math.inf), torch.log(b) - g / rho)
    return rho * torch.logsumexp(terms, dim=0)


def _log_loop(rows: RowSide, log_b, g, lam, rho, iters, tol, check_every):
    """Plain log-domain iterations on any row side. Returns (g, error, iterations, converged, isolated, Σ f·a);
    the row side keeps f."""
    eps, b = rows.eps, torch.exp(log_b)
    log_s, fa = rows.potential(log_b + g / eps, iters > 0)
    error, it, isolated = math.inf, 0, torch.zeros_like(b, dtype=torch.bool)
    for it in range(1, iters + 1):
        isolated = ~torch.isfinite(log_s)
        if it % check_every == 0 or it == iters:
            error = _anchor_error(torch.exp(log_b + g / eps + log_s), g, b, rho, isolated)
            if error <= tol:
                return g, error, it, True, isolated, fa
        g = torch.where(isolated, torch.zeros_like(log_s), -eps * lam * log_s)
        g = torch.where(isolated, g, g + _mass_shift(g, b, rho, isolated))
        log_s, fa = rows.potential(log_b + g / eps, it < iters)
    return g, error, it, False, isolated, fa


class _Anderson:
    """Anderson acceleration (type II, memory k) of the fixed-point map g ↦ G(g) on the anchor potentials.

    Semi-relaxed Sinkhorn contracts the common level of g on every weakly connected group of anchors (a cluster)
    only by lam = rho/(rho + eps) per iteration; those modes share one eigenvalue, which Anderson mixing removes in
    a few steps.

    Safeguard: an extrapolated point is kept only if its marginal error is below the error of the point it was
    mixed from; otherwise the loop takes the plain step G(g) from that point instead and the memory restarts, so
    the accelerated iterates never do worse than plain Sinkhorn. (Restarting the memory alone, with the bad point
    kept, let the error ratchet up on clustered balanced problems: 0.35 after 200 iterations where plain Sinkhorn
    reaches 1e-4.)

    Back-off: a rejection costs one more kernel product pair (the plain step is taken from the previous point), and
    near convergence mixing is rejected often (about 30 % of iterations at n = 20,000 with 2,000 anchors). After a
    rejection the next `pause` iterations are plain steps that still fill the memory, so mixing resumes with a full
    history; `pause` doubles with each rejection in a row (up to MAX_PAUSE) and falls back to 1 after an accepted
    mix. MAX_PAUSE = 0 is the earlier rule (mix again at once).
    """

    MAX_PAUSE = 16
    log: list | None = None  # when a list, each solve appends {"accepted", "rejected", "paused"} (benchmarks)

    def __init__(self, memory: int):
        self.memory, self.xs, self.gs = memory, [], []
        self.fallback: torch.Tensor | None = None  # G(g) of the point the last extrapolation started from
        self.error_before = math.inf  # that point's marginal error
        self.pause, self.pause_left = 1, 0
        self.counts = {"accepted": 0, "rejected": 0, "paused": 0}
        if _Anderson.log is not None:
            _Anderson.log.append(self.counts)

    def reset(self) -> None:
        self.xs, self.gs, self.fallback, self.error_before = [], [], None, math.inf

    def rejects(self, error: float) -> bool:
        """Whether the last extrapolated point (marginal error `error`) is worse than the point it came from.

        Also keeps the back-off: a rejection starts a pause of plain steps (doubling while rejections follow each
        other), an acceptance ends the doubling."""
        if self.fallback is None:
            return False
        if error < self.error_before:
            self.counts["accepted"] += 1
            self.pause = 1
            return False
        self.counts["rejected"] += 1
        if self.MAX_PAUSE > 0:
            self.pause_left, self.pause = self.pause, min(2 * self.pause, self.MAX_PAUSE)
        return True

    def mix(self, x: torch.Tensor, gx: torch.Tensor, error: float) -> torch.Tensor:
        """The next iterate after x (marginal error `error`) with plain image gx; remembers gx as the fallback.
        During a pause: gx itself, with (x, gx) kept in the memory."""
        if self.pause_left > 0:
            self.pause_left -= 1
            self.counts["paused"] += 1
            self._remember(x, gx)
            self.fallback, self.error_before = None, math.inf
            return gx
        mixed = self(x, gx)
        self.fallback, self.error_before = (gx, error) if mixed is not gx else (None, math.inf)
        return mixed

    def _remember(self, x: torch.Tensor, gx: torch.Tensor) -> None:
        self.xs.append(x)
        self.gs.append(gx)
        if len(self.xs) > self.memory + 1:
            self.xs.pop(0), self.gs.pop(0)

    def __call__(self, x: torch.Tensor, gx: torch.Tensor) -> torch.Tensor:
        self._remember(x, gx)
        if len(self.xs) < 2:
            return gx
        residuals = torch.stack([g - x for x, g in zip(self.xs, self.gs)], dim=1).double()  # [m, k+1]
        d_res, d_g = residuals.diff(dim=1), torch.stack(self.gs, dim=1).double().diff(dim=1)
        gram = d_res.T @ d_res
        gram += 1e-10 * gram.diagonal().max().clamp_min(1e-30) * torch.eye(gram.shape[0], dtype=gram.dtype,
                                                                            device=gram.device)
        gamma = torch.linalg.solve(gram, d_res.T @ residuals[:, -1])
        return (gx.double() - d_g @ gamma).to(gx.dtype)


def _trust(mixed: torch.Tensor, gx: torch.Tensor, radius: float) -> torch.Tensor:
    """The Anderson point pulled back towards the plain image gx to within `radius` (max norm).

    An extrapolation on a nearly singular slow mode can jump by more than eps·88 in g, where exp((g − g0)/eps)
    overflows float32 (seen at eps = 0.01–0.02 on anisotropic embeddings: every rejected jump was larger than the
    last until v became inf)."""
    step = mixed - gx
    largest = float(step.abs().max()) if step.numel() else 0.0
    return mixed if largest <= radius else gx + step * (radius / largest)


def _scaling_loop(rows: RowSide, b, g, lam, rho, iters, tol, check_every, isolated, state=None, anderson=0):
    """Absorption-stabilised iterations: f = f0 + eps·log u, g = g0 + eps·log v with K̃ built at (f0, g0).

    Re-absorbs when a scaling leaves [e^−T, e^T]; a column whose sum underflows to 0 (it has edges but the
    absorbed kernel lost them) or a scaling that is not finite and positive falls back to one exact log-domain step
    (_rescale). Anderson points stay within eps·T of the plain image (_trust). Same iterates as _log_loop in exact
    maths.
    `state` = (g0, v) from a previous solve whose row side kept its K̃ and u: K̃ does not depend on the source
    weights a, so a warm start after a change of a costs no exp pass at all. Returns (g, error, iterations,
    converged, (g0, v)); `rows.finish()` then gives Σ f·a.
    """
    eps = rows.eps
    bound = 10.0 if b.dtype == torch.float32 else 30.0
    if state is None:
        g0, v, s = g, torch.ones_like(b), rows.absorb(torch.log(b) + g / eps, g)
    else:
        (g0, v), s = state, rows.resume()
    error, it = math.inf, 0
    mixer = _Anderson(anderson) if anderson > 0 else None
    for it in range(1, iters + 2):  # iteration iters + 1 only checks the point the last update left
        g = g0 + eps * torch.log(v)
        if it % check_every == 0 or it > iters or mixer is not None:
            error = _anchor_error(b * v * s, g, b, rho, isolated)
            if mixer is not None and mixer.rejects(error):  # back to the plain step from the previous point
                g = mixer.fallback
                v = torch.where(isolated, v, torch.exp((g - g0) / eps))
                mixer.reset()
                g0, v, s, _ = _rescale(rows, b, v, g, g0, lam, rho, bound, torch.zeros_like(isolated))
                g = g0 + eps * torch.log(v)
                error = _anchor_error(b * v * s, g, b, rho, isolated)
            if error <= tol:
                return g, error, min(it, iters), True, (g0, v)
        if it > iters:
            break
        lost = (s <= 0) & ~isolated
        v = torch.where(isolated, torch.exp(-g0 / eps), torch.exp((lam - 1.0) * g0 / eps) * s.pow(-lam))
        if rho is not None:
            v = torch.where(isolated, v, v * torch.exp(_mass_shift(g0 + eps * torch.log(v), b, rho, isolated) / eps))
        if mixer is not None and not bool(lost.any()):
            plain = g0 + eps * torch.log(v)
            mixed = _trust(mixer.mix(g, plain, error), plain, eps * bound)
            v = torch.where(isolated, v, torch.exp((mixed - g0) / eps))
        g0, v, s, exact = _rescale(rows, b, v, g, g0, lam, rho, bound, lost)
        if exact and mixer is not None:
            mixer.reset()
    return g, error, min(it, iters), False, (g0, v)


def _rescale(rows: RowSide, b, v, g, g0, lam, rho, bound,
             lost) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """u = 1/K̃(b·v) for the new anchor scaling v; (g0, v, s, whether an exact step was taken) after any
    re-absorption.

    A lost column or a scaling that is not finite and positive (u = 0 when K̃(b·v) overflows, inf when it
    underflows): one exact log-domain step from g, the last finite point, and K̃ rebuilt there. A scaling outside
    [e^−bound, e^bound]: absorbed into (f0, g0)."""
    finite, largest, s = rows.scale(b * v)
    ok = finite and math.isfinite(largest) and bool(torch.isfinite(v).all()) and bool(torch.isfinite(s).all())
    if bool(lost.any()) or not ok:
        g0, *_ = _log_loop(rows, torch.log(b), g, lam, rho, 1, 0.0, 1)  # one exact step
        return g0, torch.ones_like(b), rows.absorb_potential(g0), True
    if largest > bound or float(torch.log(v).abs().max()) > bound:
        g0 = g0 + rows.eps * torch.log(v)
        return g0, torch.ones_like(b), rows.reabsorb(g0), False
    return g0, v, s, False


def solve_rows(rows: RowSide, b: torch.Tensor, *, rho: float | None, g0: torch.Tensor | None, max_iter: int,
               tol: float, check_every: int = 1, isolated: torch.Tensor | None = None, state: tuple | None = None,
               anderson: int = 0) -> tuple[torch.Tensor, float, float, int, bool, tuple | None]:
    """The Sinkhorn loop on any row side: (g [m], value, L1 anchor error, iterations, converged, (g0, v) or None).

    isolated [m] given (anchors no row reaches; all False for a dense kernel): the scaling domain, resumed from
    `state` (g0, v) when given; None: the log domain. The row side keeps f.

    Guard: a scaling-domain solve that ends with a non-finite g or value is redone in the log domain from the same
    warm start (state None, so the next solve re-absorbs); a non-finite log-domain result raises ConfigError."""
    _check(rows.eps, rho)
    lam = 1.0 if rho is None else rho / (rho + rows.eps)
    g_start = torch.zeros_like(b) if g0 is None else g0.to(b).clone()
    if g0 is not None and not bool(torch.isfinite(g_start).all()):
        g_start = torch.zeros_like(b)  # a poisoned warm start is worth nothing
    if isolated is not None and max_iter > 0:
        g, error, it, converged, state = _scaling_loop(rows, b, g_start, lam, rho, max_iter, tol, check_every,
                                                       isolated, state, anderson)
        fa = rows.finish()
        value = _value(fa, g, b, rho, isolated)
        if math.isfinite(value) and bool(torch.isfinite(g).all()):
            return g, value, error, it, converged, state
    g, error, it, converged, isolated, fa = _log_loop(rows, torch.log(b), g_start, lam, rho, max_iter, tol,
                                                      check_every)
    value = _value(fa, g, b, rho, isolated)
    if not (math.isfinite(value) and bool(torch.isfinite(g).all())):
        raise ConfigError(f"Sinkhorn produced non-finite potentials at eps={rows.eps:g} even in the log domain "
                          f"(b finite: {bool(torch.isfinite(b).all())}); check the inputs for NaN/inf, or raise "
                          f"--eps (e.g. --eps {2 * rows.eps:g}) or use --dtype float64")
    return g, value, error, it, converged, None


def sinkhorn_kernel(
    kernel: LogKernel,
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    rho: float | None = None,
    g0: torch.Tensor | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
    check_every: int = 1,
    warn: bool = True,
    scaling: bool = True,
    state: tuple | None = None,
    anderson: int = 0,
) -> SinkhornResult:
    """Sinkhorn on any LogKernel (dense, sparse, streamed, Dask); a [n], b [m] tensors; g0 warm-starts g.

    Returns torch tensors in a's dtype/device. Stops when the L1 anchor-marginal error ≤ tol. Kernels that offer
    `absorb` (dense, sparse) iterate in the absorption-stabilised scaling domain unless scaling=False; pass a
    previous result's `state` (same kernel and eps) to resume there without rebuilding the kernel (g0 is ignored).
    """
    use_scaling = scaling and hasattr(kernel, "absorb")
    rows = KernelRows(kernel, a, state[2:] if use_scaling and state is not None else None)
    isolated = None
    if use_scaling:
        isolated = kernel.isolated() if hasattr(kernel, "isolated") else torch.zeros(kernel.m, dtype=torch.bool,
                                                                                     device=b.device)
    g, value, error, it, converged, anchor_state = solve_rows(
        rows, b, rho=rho, g0=g0, max_iter=max_iter, tol=tol, check_every=check_every, isolated=isolated,
        state=None if state is None or not use_scaling else state[:2], anderson=anderson)
    f, eps = rows.f, kernel.eps
    state = None if anchor_state is None else (*anchor_state, *rows.state)
    if warn and not converged:
        warnings.warn(
            f"Sinkhorn did not converge in {max_iter} iterations: anchor marginal error {error:.3g} > tol {tol:g}; "
            f"raise max_iter or use a larger eps (e.g. --eps {2 * eps:g})",
            SinkhornWarning,
            stacklevel=2,
        )
    return SinkhornResult(f, g, value, error, it, converged, state)


def _value(fa: float, g: torch.Tensor, b: torch.Tensor, rho: float | None, isolated: torch.Tensor) -> float:
    """The dual value from Σ f·a (summed by the row side) and the anchor potentials."""
    if rho is None:
        return fa + float((g * b).sum())
    relax = torch.where(isolated, rho * b, rho * b * (1.0 - torch.exp(-g / rho)))  # no edges: no mass, cost rho·b_j
    return fa + float(relax.sum())


def sinkhorn(
    a,
    b,
    cost,
    eps: float,
    *,
    rho: float | None = None,
    g0=None,
    max_iter: int = 1000,
    tol: float = 1e-6,
    warn: bool = True,
) -> SinkhornResult:
    """Dense log-domain Sinkhorn. a [n], b [m], cost [n, m] as numpy or torch (float32/float64, CPU/CUDA).

    Potentials come back in the caller's array type, dtype and device. See the module docstring for the maths.
    """
    _check(eps, rho)
    is_numpy = isinstance(cost, np.ndarray)
    c = as_tensor(cost)
    a_t, b_t = as_tensor(a, c.dtype, c.device), as_tensor(b, c.dtype, c.device)
    g_t = None if g0 is None else as_tensor(g0, c.dtype, c.device)
    res = sinkhorn_kernel(DenseKernel(c, eps), a_t, b_t, rho=rho, g0=g_t, max_iter=max_iter, tol=tol, warn=False)
    if warn and not res.converged:
        warnings.warn(
            f"Sinkhorn did not converge in {max_iter} iterations: anchor marginal error {res.marginal_error:.3g} > "
            f"tol {tol:g}; raise max_iter or use a larger eps (e.g. --eps {2 * eps:g})",
            SinkhornWarning,
            stacklevel=2,
        )
    if is_numpy:
        res.f, res.g = res.f.cpu().numpy(), res.g.cpu().numpy()
    return res


def plan_from_potentials(a, b, cost, f, g, eps: float):
    """The plan P_ij = a_i b_j exp((f_i + g_j − C_ij)/eps) [n, m] for small problems (tests, inspection)."""
    return a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - cost) / eps) if isinstance(cost, np.ndarray) \
        else a[:, None] * b[None, :] * torch.exp((f[:, None] + g[None, :] - cost) / eps)
