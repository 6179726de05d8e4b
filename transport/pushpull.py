"""Push-pull sample weights by mirror descent on the simplex (METHODS.md, SOT).

    J(w) = OT_eps(w, b_S) − beta · OT_eps(w, b_H) + tau · KL(w ‖ 1/n)          w ∈ Δ_n
    ∇J(w) = f^S − beta · f^H + tau · (log(n w) + 1)                          (f = source potentials, centred)
    log w ← log w − eta · ∇J(w),  renormalised  (= (1 − eta·tau) log w − eta (f^S − beta f^H) + const)

Each outer step re-solves both Sinkhorn problems warm-started from the previous anchor potentials, so it needs
few inner iterations. Stops when |J_t − J_{t−1}| ≤ tol · |J_t|. Pass pull=None (push-only) or push=None (pull-only)
for the single-reference baselines.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from curate.errors import ConfigError
from transport._kernels import LogKernel
from transport.sinkhorn import sinkhorn_kernel

__all__ = ["PushPullResult", "push_pull", "objective"]


@dataclass
class PushPullResult:
    """weights [n] (mean 1), centred pull/push potentials [n] (zeros for a missing side), objective trace."""

    weights: np.ndarray
    pull_potential: np.ndarray
    push_potential: np.ndarray
    objective: list[float]
    converged: bool
    outer_iterations: int
    inner_iterations: list[tuple[int, int]] = field(default_factory=list)
    marginal_error: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0


def _solve(kernel, w, b, g, rho, inner_max_iter, inner_tol):
    if kernel is None:
        zero = torch.zeros_like(w)
        return zero, None, 0.0, 0, 0.0
    res = sinkhorn_kernel(kernel, w, b, rho=rho, g0=g, max_iter=inner_max_iter, tol=inner_tol, warn=False)
    return res.f, res.g, res.value, res.iterations, res.marginal_error


def objective(pull_value: float, push_value: float, log_w: torch.Tensor, beta: float, tau: float) -> float:
    """J = OT_S − beta·OT_H + tau·KL(w ‖ uniform) from the two solved values and the log-weights [n]."""
    n = log_w.shape[0]
    kl = float((torch.exp(log_w) * (log_w + math.log(n))).sum())
    return pull_value - beta * push_value + tau * kl


def push_pull(
    pull: LogKernel | None,
    push: LogKernel | None,
    b_safe: torch.Tensor | None,
    b_harm: torch.Tensor | None,
    *,
    beta: float = 1.0,
    tau: float = 0.1,
    eta: float = 0.5,
    rho: float | None = None,
    max_outer: int = 50,
    tol: float = 1e-5,
    inner_max_iter: int = 100,
    inner_tol: float = 1e-4,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> PushPullResult:
    """Run the mirror-descent learner; see the module docstring. Kernels must share n; b_* are anchor masses."""
    from tqdm.auto import tqdm

    if pull is None and push is None:
        raise ConfigError("push_pull needs at least one of the pull (safe) or push (harmful) problems")
    if tau < 0 or eta <= 0:
        raise ConfigError(f"tau must be ≥ 0 and eta > 0 (got tau={tau}, eta={eta})")
    n = (pull or push).n
    start = time.perf_counter()
    log_w = torch.full((n,), -math.log(n), dtype=dtype, device=device)
    w = torch.exp(log_w)
    bs = None if b_safe is None else b_safe.to(dtype=dtype, device=device)
    bh = None if b_harm is None else b_harm.to(dtype=dtype, device=device)
    push_beta = beta if pull is not None else 1.0  # push-only: J = −OT_H + tau·KL
    g_s = g_h = None
    trace, inner, converged, errors = [], [], False, (0.0, 0.0)
    bar = tqdm(range(max_outer), desc="SOT mirror descent", disable=not progress, leave=False)
    for step in bar:
        f_s, g_s, v_s, it_s, e_s = _solve(pull, w, bs, g_s, rho, inner_max_iter, inner_tol)
        f_h, g_h, v_h, it_h, e_h = _solve(push, w, bh, g_h, rho, inner_max_iter, inner_tol)
        trace.append(objective(v_s, v_h, log_w, push_beta, tau))
        inner.append((it_s, it_h))
        errors = (e_s, e_h)
        bar.set_postfix(J=f"{trace[-1]:.6g}")
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) <= tol * max(abs(trace[-1]), 1e-12):
            converged = True
        if converged or step == max_outer - 1:
            break  # keep the weights the reported potentials were solved at
        grad = (f_s - f_s.mean()) - push_beta * (f_h - f_h.mean()) + tau * (log_w + math.log(n) + 1.0)
        # floor keeps every weight representable (float32 exp underflows below ~1e-38)
        log_w = torch.log_softmax(log_w - eta * grad, dim=0).clamp_min(-80.0)
        w = torch.exp(log_w)
    return PushPullResult(
        weights=(w * n).double().cpu().numpy(),
        pull_potential=(f_s - f_s.mean()).double().cpu().numpy(),
        push_potential=(f_h - f_h.mean()).double().cpu().numpy(),
        objective=trace, converged=converged, outer_iterations=len(trace), inner_iterations=inner,
        marginal_error=errors, seconds=time.perf_counter() - start,
    )
