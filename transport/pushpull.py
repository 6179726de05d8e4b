"""Push-pull sample weights by mirror descent on the simplex (SOT; docs/methods.md).

    J(w) = OT_eps(w, b_S) − beta · OT_eps(w, b_H) + tau · KL(w ‖ 1/n)          w ∈ Δ_n
    ∇J(w) = f^S − beta · f^H + tau · (log(n w) + 1)                          (f = source potentials, centred)
    log w ← log w − eta · ∇J(w),  renormalised  (= (1 − eta·tau) log w − eta (f^S − beta f^H) + const)

Each outer step re-solves both Sinkhorn problems warm-started from the previous anchor potentials, so it needs
few inner iterations. Stops when |J_t − J_{t−1}| ≤ tol · |J_t|, and warns (PushPullWarning) when it stops
otherwise. Pass pull=None (push-only) or push=None (pull-only) for the single-reference baselines.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from curate.errors import ConfigError, InputError
from transport._kernels import LogKernel
from transport.cost import as_tensor
from transport.sinkhorn import sinkhorn_kernel

__all__ = ["PushPullResult", "PushPullWarning", "PushPullIterate", "push_pull", "objective", "mirror_descent",
           "WeightRows", "Descent"]


class PushPullWarning(UserWarning):
    """The push-pull learner stopped before the relative change of its objective reached tol."""


@dataclass
class PushPullResult:
    """weights [n] (mean 1), centred pull/push potentials [n] (zeros for a missing side), objective trace.

    The three arrays have the type, dtype and device of the anchor masses given to push_pull.
    """

    weights: np.ndarray | torch.Tensor
    pull_potential: np.ndarray | torch.Tensor
    push_potential: np.ndarray | torch.Tensor
    objective: list[float]
    converged: bool
    outer_iterations: int
    inner_iterations: list[tuple[int, int]] = field(default_factory=list)
    marginal_error: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0
    rejected_steps: int = 0
    final_eta: float = 0.0


@dataclass(frozen=True)
class PushPullIterate:
    """One point push_pull evaluated, as its `on_iterate` callback receives it.

    log_weights [n]: log w of the point (Σ w = 1) in the working dtype and device, the solver's own tensor (read
    it or copy it; never modify it in place). objective: J at the point. accepted: whether the step rule kept it
    (always True when adaptive=False); a rejected point is followed by a retry with half the step.
    """

    log_weights: torch.Tensor
    objective: float
    accepted: bool


def objective(pull_value: float, push_value: float, log_w: torch.Tensor, beta: float, tau: float) -> float:
    """J = OT_S − beta·OT_H + tau·KL(w ‖ uniform) from the two solved values and the log-weights [n]."""
    n = log_w.shape[0]
    kl = float((torch.exp(log_w) * (log_w + math.log(n))).sum())
    return pull_value - beta * push_value + tau * kl


class WeightRows(Protocol):
    """What the mirror-descent loop asks of whoever holds the per-row vectors: log-weights, the two problems' source
    potentials f_pull, f_push and the best point. Every call sends and answers a few scalars, never [n] arrays;
    `_LocalWeights` holds them in this process, dask_pushpull.ShardedWeights on Dask workers."""

    def reset_weights(self, log_n: float) -> None:
        """log w = −log n (uniform)."""

    def exp_weights(self) -> None:
        """w = exp(log w), the source weights of the next two Sinkhorn solves."""

    def point_sums(self, log_n: float) -> tuple[float, float, float]:
        """(Σ f_pull, Σ f_push, Σ w (log w + log n)) at the current point."""

    def accept(self, mean_pull: float, mean_push: float) -> None:
        """The current point becomes the best: its log-weights and centred potentials."""

    def step(self, eta: float, beta: float, tau: float, log_n: float) -> None:
        """log w ← log_softmax(log w* − eta ∇J(w*)) from the best point, floored at e^−30 of the uniform weight."""


class _Problem(Protocol):
    def solve(self) -> tuple[float, int, float]:
        """Warm-started Sinkhorn at the current weights, f left with the rows: (value, iterations, error)."""


class _LocalWeights:
    """WeightRows held in this process, in `dtype` on `device`."""

    def __init__(self, n: int, dtype: torch.dtype, device):
        self.n, self.dtype, self.device = n, dtype, device
        self.f: dict[str, torch.Tensor] = {}

    def reset_weights(self, log_n: float) -> None:
        self.log_w = torch.full((self.n,), -log_n, dtype=self.dtype, device=self.device)

    def exp_weights(self) -> None:
        self.w = torch.exp(self.log_w)

    def point_sums(self, log_n: float) -> tuple[float, float, float]:
        kl = float((torch.exp(self.log_w) * (self.log_w + log_n)).sum())
        return float(self.f["pull"].sum()), float(self.f["push"].sum()), kl

    def accept(self, mean_pull: float, mean_push: float) -> None:
        self.best = (self.log_w, self.f["pull"] - mean_pull, self.f["push"] - mean_push)

    def step(self, eta: float, beta: float, tau: float, log_n: float) -> None:
        log_w, f_s, f_h = self.best
        grad = f_s - beta * f_h + tau * (log_w + log_n + 1.0)
        # floor: a weight below e^−30 (≈ 1e−13) of the uniform weight is zero for any use, and the floor keeps
        # a_i·K̃_ij representable in float32 so the scaling-domain Sinkhorn never loses a column to underflow
        self.log_w = torch.log_softmax(log_w - eta * grad, dim=0).clamp_min(-log_n - 30.0)


class _KernelProblem:
    """One side (pull or push) on an in-memory kernel: masses, warm-start state and the solver options."""

    def __init__(self, rows: _LocalWeights, name: str, kernel: LogKernel | None, b, rho, options: dict):
        self.rows, self.name, self.kernel, self.b, self.rho, self.options = rows, name, kernel, b, rho, options
        self.state, self.g = None, None

    def solve(self) -> tuple[float, int, float]:
        if self.kernel is None:
            self.rows.f[self.name] = torch.zeros_like(self.rows.w)
            return 0.0, 0, 0.0
        res = sinkhorn_kernel(self.kernel, self.rows.w, self.b, rho=self.rho, g0=self.g, state=self.state,
                              warn=False, **self.options)
        self.state, self.g, self.rows.f[self.name] = res.state, res.g, res.f
        return res.value, res.iterations, res.marginal_error


@dataclass
class Descent:
    """The mirror-descent loop's outcome (the per-row results stay with the rows)."""

    objective: list[float]
    converged: bool
    outer_iterations: int
    inner_iterations: list[tuple[int, int]]
    marginal_error: tuple[float, float]
    rejected_steps: int
    final_eta: float


def _check_finite_point(value: float, parts: tuple[float, ...], tau: float, eta: float) -> None:
    """Refuse a non-finite objective: a NaN J compares false with the best J, so it would be accepted silently and
    every later weight would be NaN. (The inner Sinkhorn already retries in the log domain before this.)"""
    if math.isfinite(value):
        return
    raise ConfigError(f"push_pull: the objective became non-finite (J={value}; OT values, Σf and KL: "
                      f"{', '.join(f'{p:.4g}' for p in parts)}) at tau={tau:g}, eta={eta:g}; raise --eps (e.g. "
                      "double it) or --tau, or use --dtype float64")


def _check_steps(tau: float, eta: float) -> None:
    if tau < 0 or eta <= 0:
        raise ConfigError(f"tau must be ≥ 0 and eta > 0 (got tau={tau}, eta={eta})")


def mirror_descent(rows: WeightRows, sides: tuple[_Problem, _Problem], n: int, *, beta: float, tau: float,
                   eta: float, max_outer: int, tol: float, adaptive: bool, progress: bool = False, warn: bool = True,
                   desc: str = "SOT mirror descent", on_point: Callable[[float, bool], None] | None = None) -> Descent:
    """The push-pull learner of the module docstring on any WeightRows; `beta` is the push strength as J uses it
    (1 when push-only). The best point is left on `rows` (accept). on_point(J, accepted) is called once per
    evaluated point, after the step rule decided and before `rows` moves on (rows still hold that point)."""
    from tqdm.auto import tqdm

    eta_max = 1.0 / tau if tau > 0 else 64.0 * eta
    log_n = math.log(n)
    rows.reset_weights(log_n)
    trace, inner, converged, stalled, rejected, best, change = [], [], False, False, 0, None, math.inf
    bar = tqdm(range(max_outer), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        rows.exp_weights()
        (v_s, it_s, e_s), (v_h, it_h, e_h) = sides[0].solve(), sides[1].solve()
        inner.append((it_s, it_h))
        sum_s, sum_h, kl = rows.point_sums(log_n)
        value = v_s - beta * v_h + tau * kl
        _check_finite_point(value, (v_s, v_h, sum_s, sum_h, kl), tau, eta)
        accepted = not (adaptive and best is not None and value > best[0] + 1e-12 * abs(best[0]))
        if on_point is not None:
            on_point(value, accepted)
        if not accepted:
            rejected += 1
            eta *= 0.5
            eta_max = eta  # growing back to a step that failed would only fail again
            if eta * max(tau, 1e-12) < 1e-6:
                stalled = True
                break  # no descent direction left at this inner accuracy: keep the best point
        else:
            diff = None if best is None else abs(value - best[0])
            rows.accept(sum_s / n, sum_h / n)
            best = (value, (e_s, e_h))
            trace.append(value)
            bar.set_postfix(J=f"{value:.6g}", eta=f"{eta:.3g}")
            if diff is not None:
                change = diff / max(abs(value), 1e-12)
                if diff <= tol * max(abs(value), 1e-12):
                    converged = True
                    break
            if adaptive:
                eta = min(eta * 1.5, eta_max)
        rows.step(eta, beta, tau, log_n)
    if warn and not converged:
        _warn_not_converged(len(inner), max_outer, change, tol, stalled)
    return Descent(trace, converged, len(inner), inner, best[1], rejected, eta)


def _masses(kernel: LogKernel | None, b, name: str, dtype: torch.dtype, device) -> torch.Tensor | None:
    """The anchor masses of one problem as a tensor [m] in the working dtype/device (None for a missing side)."""
    if kernel is None:
        return None
    if b is None:
        raise ConfigError(f"push_pull: the {name} problem has a kernel but no anchor masses; pass {name} [m]")
    t = as_tensor(b, dtype, device)
    if tuple(t.shape) != (kernel.m,):
        raise InputError(f"push_pull: {name} has shape {tuple(t.shape)} but its kernel has m={kernel.m} anchors; "
                         f"give one mass per anchor")
    return t


def _like(x: torch.Tensor, reference: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """`x` in the caller's array type: a tensor on the reference's device and dtype, else a numpy array."""
    if isinstance(reference, torch.Tensor):
        return x.to(dtype=reference.dtype, device=reference.device)
    dtype = np.asarray(reference).dtype
    return x.double().cpu().numpy().astype(dtype if dtype.kind == "f" else np.float64, copy=False)


def _warn_not_converged(outer: int, max_outer: int, change: float, tol: float, stalled: bool) -> None:
    reached = f"relative objective change {change:.3g} > tol={tol:g}"
    if stalled:
        message = (f"push_pull stopped after {outer} of max_outer={max_outer} outer iterations because every "
                   f"smaller step raised J ({reached}); lower inner_tol or raise inner_max_iter so J is solved "
                   "accurately enough to descend, or loosen tol")
    else:
        message = f"push_pull did not converge in max_outer={max_outer} outer iterations ({reached}); " \
                  "raise max_outer or loosen tol"
    warnings.warn(message, PushPullWarning, stacklevel=4)


def push_pull(
    pull: LogKernel | None,
    push: LogKernel | None,
    b_safe: np.ndarray | torch.Tensor | None,
    b_harm: np.ndarray | torch.Tensor | None,
    *,
    beta: float = 1.0,
    tau: float = 0.1,
    eta: float = 0.5,
    rho: float | None = None,
    push_rho: float | None | str = "same",
    max_outer: int = 50,
    tol: float = 1e-5,
    inner_max_iter: int = 100,
    inner_tol: float = 1e-4,
    adaptive: bool = True,
    anderson: int = 5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    progress: bool = False,
    warn: bool = True,
    on_iterate: Callable[[PushPullIterate], None] | None = None,
) -> PushPullResult:
    """Run the mirror-descent learner; see the module docstring. Kernels must share n; b_* are anchor masses [m].

    The iterations run in `dtype` on `device`; weights and potentials come back in the array type, dtype and device
    of the masses (b_safe, or b_harm when push-only): numpy in, numpy out; a CUDA tensor in, a CUDA tensor out.
    warn=True: a PushPullWarning naming max_outer, tol and the reached relative change of J when not converged.
    adaptive=True: a step that raises J is rejected and retried with half the step (which also becomes the cap);
    an accepted step grows the step by 1.5 up to eta·tau = 1 (the undamped fixed-point step). The accepted trace is
    monotone, so the period-2 oscillation of a fixed large step cannot happen. adaptive=False: the fixed step eta
    (docs/methods.md as written). anderson: memory of the Anderson acceleration of each inner Sinkhorn (0 = plain
    iterations). rho applies to the pull problem and, unless push_rho is given (a number or None = balanced), to
    the push problem too. on_iterate: called with a PushPullIterate for every point evaluated (accepted or
    rejected, in order; the accepted ones' J values are `objective`), e.g. to time or record the descent; it does
    not change the iterations (None: no call at all).
    """
    if pull is None and push is None:
        raise ConfigError("push_pull needs at least one of the pull (safe) or push (harmful) problems")
    _check_steps(tau, eta)
    n = (pull or push).n
    start = time.perf_counter()
    bs, bh = _masses(pull, b_safe, "b_safe", dtype, device), _masses(push, b_harm, "b_harm", dtype, device)
    rho_h = rho if push_rho == "same" else push_rho
    options = {"max_iter": inner_max_iter, "tol": inner_tol, "anderson": anderson}
    rows = _LocalWeights(n, dtype, device)
    sides = (_KernelProblem(rows, "pull", pull, bs, rho, options),
             _KernelProblem(rows, "push", push, bh, rho_h, options))
    push_beta = beta if pull is not None else 1.0  # push-only: J = −OT_H + tau·KL

    def on_point(value: float, accepted: bool) -> None:
        on_iterate(PushPullIterate(rows.log_w, value, accepted))

    run = mirror_descent(rows, sides, n, beta=push_beta, tau=tau, eta=eta, max_outer=max_outer, tol=tol,
                         adaptive=adaptive, progress=progress, warn=warn,
                         on_point=None if on_iterate is None else on_point)
    reference = b_safe if pull is not None else b_harm
    log_w, f_s, f_h = rows.best
    if not bool(torch.isfinite(log_w).all() & torch.isfinite(f_s).all() & torch.isfinite(f_h).all()):
        raise ConfigError(f"push_pull: non-finite weights or potentials at tau={tau:g} (eps "
                          f"{[k.eps for k in (pull, push) if k is not None]}); raise --eps (e.g. double it) or --tau, "
                          "or use --dtype float64")
    return PushPullResult(
        weights=_like(torch.exp(log_w) * n, reference), pull_potential=_like(f_s, reference),
        push_potential=_like(f_h, reference), objective=run.objective, converged=run.converged,
        outer_iterations=run.outer_iterations, inner_iterations=run.inner_iterations,
        marginal_error=run.marginal_error, seconds=time.perf_counter() - start, rejected_steps=run.rejected_steps,
        final_eta=run.final_eta,
    )
