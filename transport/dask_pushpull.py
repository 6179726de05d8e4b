"""Push-pull mirror descent over a sharded corpus: transport/pushpull.py step for step, with the log-weights, the
centred potentials and the best point held by the workers, and J, the step size and the trace here.

Per outer step the driver sends a handful of scalars besides the two Sinkhorn solves (dask_sinkhorn.py): the
centring means and J's KL term come back as three sums, the softmax of the step as one (max, Σ exp) pair.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from curate.errors import ConfigError
from transport.dask_sinkhorn import sharded_sinkhorn
from transport.distributed import ShardedCorpus
from transport.pushpull import PushPullResult, _warn_not_converged
from transport.stream import merge_lse

__all__ = ["sharded_push_pull"]


class _Problem:
    """One side (pull or push) of the objective: its masses, warm-start state and solver options."""

    def __init__(self, corpus, name: str, b, isolated, rho, options: dict):
        self.corpus, self.name, self.b, self.isolated, self.rho, self.options = corpus, name, b, isolated, rho, options
        self.state, self.g = None, None

    def solve(self) -> tuple[float, int, float]:
        """Warm-started solve at the workers' current weights; (value, iterations, marginal error)."""
        if self.b is None:
            self.corpus.call("zero_potential", self.name)
            return 0.0, 0, 0.0
        res = sharded_sinkhorn(self.corpus, self.name, self.b, rho=self.rho, g0=self.g, state=self.state,
                               isolated=self.isolated, **self.options)
        self.state, self.g = res.state, res.g
        return res.value, res.iterations, res.marginal_error


def _step(corpus: ShardedCorpus, eta: float, beta: float, tau: float, n: int) -> None:
    """log w ← log_softmax(log w* − eta ∇J(w*)), floored at e^−30 of the uniform weight (pushpull._step)."""
    pairs = corpus.call("step_pair", eta, beta, tau, math.log(n))
    top, total = torch.tensor([pairs[0][0]]), torch.tensor([pairs[0][1]])
    for block_top, block_total in pairs[1:]:
        top, total = merge_lse(top, total, torch.tensor([block_top]), torch.tensor([block_total]))
    corpus.call("apply_step", float(torch.log(total) + top), -math.log(n) - 30.0)


def sharded_push_pull(
    corpus: ShardedCorpus,
    b_safe: np.ndarray | None,
    b_harm: np.ndarray | None,
    *,
    eps: float,
    isolated: dict[str, torch.Tensor | None],
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
    progress: bool = False,
    warn: bool = True,
) -> PushPullResult:
    """push_pull on the kernels the workers built ('pull' and/or 'push'); same options, numpy float64 results [n].

    b_safe / b_harm: anchor masses [m] of the pull and push problems (None = that side is absent); isolated: per
    problem the anchors no row reaches (sparse kernels, scaling-domain Sinkhorn) or None (stream kernels).
    """
    from tqdm.auto import tqdm

    if b_safe is None and b_harm is None:
        raise ConfigError("push_pull needs at least one of the pull (safe) or push (harmful) problems")
    if tau < 0 or eta <= 0:
        raise ConfigError(f"tau must be ≥ 0 and eta > 0 (got tau={tau}, eta={eta})")
    n, start = corpus.n, time.perf_counter()
    eta_max = 1.0 / tau if tau > 0 else 64.0 * eta
    options = {"eps": eps, "max_iter": inner_max_iter, "tol": inner_tol, "anderson": anderson}
    masses = [None if b is None else torch.as_tensor(np.ascontiguousarray(b)).to(dtype) for b in (b_safe, b_harm)]
    rhos = (rho, rho if push_rho == "same" else push_rho)
    sides = [_Problem(corpus, name, b, isolated.get(name), r, options)
             for name, b, r in zip(("pull", "push"), masses, rhos)]
    push_beta = beta if b_safe is not None else 1.0  # push-only: J = −OT_H + tau·KL
    corpus.call("reset_weights", math.log(n))
    trace, inner, converged, stalled, rejected, best, change = [], [], False, False, 0, None, math.inf
    bar = tqdm(range(max_outer), desc="SOT mirror descent (Dask)", disable=not progress, leave=False)
    for _ in bar:
        corpus.call("exp_weights")
        (v_s, it_s, e_s), (v_h, it_h, e_h) = sides[0].solve(), sides[1].solve()
        inner.append((it_s, it_h))
        sum_s, sum_h, kl = corpus.sum("point_sums", math.log(n))
        value = v_s - push_beta * v_h + tau * kl
        if adaptive and best is not None and value > best["value"] + 1e-12 * abs(best["value"]):
            rejected += 1
            eta *= 0.5
            eta_max = eta  # growing back to a step that failed would only fail again
            if eta * max(tau, 1e-12) < 1e-6:
                stalled = True
                break  # no descent direction left at this inner accuracy: keep the best point
        else:
            diff = None if best is None else abs(value - best["value"])
            corpus.call("accept", sum_s / n, sum_h / n)
            best = {"value": value, "errors": (e_s, e_h)}
            trace.append(value)
            bar.set_postfix(J=f"{value:.6g}", eta=f"{eta:.3g}")
            if diff is not None:
                change = diff / max(abs(value), 1e-12)
                if diff <= tol * max(abs(value), 1e-12):
                    converged = True
                    break
            if adaptive:
                eta = min(eta * 1.5, eta_max)
        _step(corpus, eta, push_beta, tau, n)
    if warn and not converged:
        _warn_not_converged(len(inner), max_outer, change, tol, stalled)
    weights, pull, push = corpus.rows("results", n)
    return PushPullResult(weights=weights, pull_potential=pull, push_potential=push, objective=trace,
                          converged=converged, outer_iterations=len(inner), inner_iterations=inner,
                          marginal_error=best["errors"], seconds=time.perf_counter() - start,
                          rejected_steps=rejected, final_eta=eta)
