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
from dataclasses import dataclass, field

import numpy as np
import torch

from curate.errors import ConfigError, InputError
from transport._kernels import LogKernel
from transport.cost import as_tensor
from transport.sinkhorn import sinkhorn_kernel

__all__ = ["PushPullResult", "PushPullWarning", "push_pull", "objective"]


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


def _solve(kernel, w, b, state, g, rho, inner_max_iter, inner_tol, anderson):
    """One warm-started Sinkhorn solve; (f, value, iterations, error, state, g) with zeros for a missing side."""
    if kernel is None:
        return torch.zeros_like(w), 0.0, 0, 0.0, None, None
    res = sinkhorn_kernel(kernel, w, b, rho=rho, g0=g, state=state, max_iter=inner_max_iter, tol=inner_tol,
                          anderson=anderson, warn=False)
    return res.f, res.value, res.iterations, res.marginal_error, res.state, res.g


def objective(pull_value: float, push_value: float, log_w: torch.Tensor, beta: float, tau: float) -> float:
    """J = OT_S − beta·OT_H + tau·KL(w ‖ uniform) from the two solved values and the log-weights [n]."""
    n = log_w.shape[0]
    kl = float((torch.exp(log_w) * (log_w + math.log(n))).sum())
    return pull_value - beta * push_value + tau * kl


@dataclass
class _Point:
    """An evaluated iterate: log-weights, centred potentials, J, marginal errors."""

    log_w: torch.Tensor
    f_s: torch.Tensor
    f_h: torch.Tensor
    value: float
    errors: tuple[float, float]


def _step(point: _Point, eta: float, beta: float, tau: float) -> torch.Tensor:
    """Mirror-descent (exponentiated-gradient) step from `point`: new log-weights, renormalised."""
    n = point.log_w.shape[0]
    grad = point.f_s - beta * point.f_h + tau * (point.log_w + math.log(n) + 1.0)
    # floor: a weight below e^−30 (≈ 1e−13) of the uniform weight is zero for any use, and the floor keeps
    # a_i·K̃_ij representable in float32 so the scaling-domain Sinkhorn never loses a column to underflow
    return torch.log_softmax(point.log_w - eta * grad, dim=0).clamp_min(-math.log(n) - 30.0)


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
    warnings.warn(message, PushPullWarning, stacklevel=3)


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
    the push problem too.
    """
    from tqdm.auto import tqdm

    if pull is None and push is None:
        raise ConfigError("push_pull needs at least one of the pull (safe) or push (harmful) problems")
    if tau < 0 or eta <= 0:
        raise ConfigError(f"tau must be ≥ 0 and eta > 0 (got tau={tau}, eta={eta})")
    n = (pull or push).n
    start = time.perf_counter()
    eta_max = 1.0 / tau if tau > 0 else 64.0 * eta
    log_w = torch.full((n,), -math.log(n), dtype=dtype, device=device)
    bs, bh = _masses(pull, b_safe, "b_safe", dtype, device), _masses(push, b_harm, "b_harm", dtype, device)
    rho_h = rho if push_rho == "same" else push_rho
    push_beta = beta if pull is not None else 1.0  # push-only: J = −OT_H + tau·KL
    states, gs = [None, None], [None, None]
    trace, inner, converged, stalled, rejected, best, change = [], [], False, False, 0, None, math.inf
    bar = tqdm(range(max_outer), desc="SOT mirror descent", disable=not progress, leave=False)
    for _ in bar:
        w = torch.exp(log_w)
        f_s, v_s, it_s, e_s, states[0], gs[0] = _solve(pull, w, bs, states[0], gs[0], rho, inner_max_iter, inner_tol,
                                                        anderson)
        f_h, v_h, it_h, e_h, states[1], gs[1] = _solve(push, w, bh, states[1], gs[1], rho_h, inner_max_iter, inner_tol,
                                                        anderson)
        inner.append((it_s, it_h))
        point = _Point(log_w, f_s - f_s.mean(), f_h - f_h.mean(), objective(v_s, v_h, log_w, push_beta, tau),
                       (e_s, e_h))
        if adaptive and best is not None and point.value > best.value + 1e-12 * abs(best.value):
            rejected += 1
            eta *= 0.5
            eta_max = eta  # growing back to a step that failed would only fail again
            if eta * max(tau, 1e-12) < 1e-6:
                stalled = True
                break  # no descent direction left at this inner accuracy: keep the best point
        else:
            diff = None if best is None else abs(point.value - best.value)
            best = point
            trace.append(point.value)
            bar.set_postfix(J=f"{point.value:.6g}", eta=f"{eta:.3g}")
            if diff is not None:
                change = diff / max(abs(point.value), 1e-12)
                if diff <= tol * max(abs(point.value), 1e-12):
                    converged = True
                    break
            if adaptive:
                eta = min(eta * 1.5, eta_max)
        log_w = _step(best, eta, push_beta, tau)
    if warn and not converged:
        _warn_not_converged(len(inner), max_outer, change, tol, stalled)
    reference = b_safe if pull is not None else b_harm
    return PushPullResult(
        weights=_like(torch.exp(best.log_w) * n, reference),
        pull_potential=_like(best.f_s, reference),
        push_potential=_like(best.f_h, reference),
        objective=trace, converged=converged, outer_iterations=len(inner), inner_iterations=inner,
        marginal_error=best.errors, seconds=time.perf_counter() - start, rejected_steps=rejected, final_eta=eta,
    )
