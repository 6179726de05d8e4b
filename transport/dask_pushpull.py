"""Push-pull mirror descent over a sharded corpus: pushpull.mirror_descent with the log-weights, the centred
potentials and the best point held by the workers, and J, the step size and the trace here.

Per outer step the driver sends a handful of scalars besides the two Sinkhorn solves (dask_sinkhorn.py): the
centring means and J's KL term come back as three sums, the softmax of the step as one (max, Σ exp) pair.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import torch

from curate.errors import ConfigError
from transport.dask_sinkhorn import sharded_sinkhorn
from transport.distributed import ShardedCorpus
from transport.pushpull import PushPullResult, _check_steps, mirror_descent, push_pull
from transport.stream import merge_lse

__all__ = ["ShardedWeights", "sharded_push_pull"]


class ShardedWeights:
    """pushpull.WeightRows on the workers (transport/dask_worker.py): each method is one call per worker."""

    def __init__(self, corpus: ShardedCorpus):
        self.corpus = corpus

    def reset_weights(self, log_n: float) -> None:
        self.corpus.call("reset_weights", log_n)

    def exp_weights(self) -> None:
        self.corpus.call("exp_weights")

    def point_sums(self, log_n: float) -> tuple[float, float, float]:
        return tuple(float(t) for t in self.corpus.sum("point_sums", log_n))

    def accept(self, mean_pull: float, mean_push: float) -> None:
        self.corpus.call("accept", mean_pull, mean_push)

    def step(self, eta: float, beta: float, tau: float, log_n: float) -> None:
        pairs = self.corpus.call("step_pair", eta, beta, tau, log_n)
        top, total = torch.tensor([pairs[0][0]]), torch.tensor([pairs[0][1]])
        for block_top, block_total in pairs[1:]:
            top, total = merge_lse(top, total, torch.tensor([block_top]), torch.tensor([block_total]))
        self.corpus.call("apply_step", float(torch.log(total) + top), -log_n - 30.0)


def _learner_options(options: dict) -> dict:
    """push_pull's keyword options completed with its defaults (push_pull's signature is the one list of them); an
    unknown name is a TypeError naming it, as for push_pull itself."""
    if "device" in options:
        raise ConfigError("sharded_push_pull takes no device: the workers' kernels are already on theirs")
    if "on_iterate" in options:
        raise ConfigError("sharded_push_pull takes no on_iterate: the log-weights [n] stay on the workers and "
                          "gathering them every step is what the sharded solver avoids; use push_pull for that")
    bound = inspect.signature(push_pull).bind(None, None, None, None, **options)
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items()
            if name not in ("pull", "push", "b_safe", "b_harm", "device", "on_iterate")}


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


def sharded_push_pull(
    corpus: ShardedCorpus,
    b_safe: np.ndarray | None,
    b_harm: np.ndarray | None,
    *,
    eps: float,
    isolated: dict[str, torch.Tensor | None],
    **options,
) -> PushPullResult:
    """push_pull on the kernels the workers built ('pull' and/or 'push'); same options, numpy float64 results [n].

    b_safe / b_harm: anchor masses [m] of the pull and push problems (None = that side is absent); isolated: per
    problem the anchors no row reaches (sparse kernels, scaling-domain Sinkhorn) or None (stream kernels).
    options: push_pull's keyword options (beta, tau, eta, rho, push_rho, max_outer, tol, inner_max_iter, inner_tol,
    adaptive, anderson, dtype, progress, warn) with push_pull's defaults; `device` does not apply (the workers'
    device is set when they build their kernels).
    """
    o = _learner_options(options)
    beta, tau, eta, dtype = o["beta"], o["tau"], o["eta"], o["dtype"]
    if b_safe is None and b_harm is None:
        raise ConfigError("push_pull needs at least one of the pull (safe) or push (harmful) problems")
    _check_steps(tau, eta)
    n, start = corpus.n, time.perf_counter()
    options = {"eps": eps, "max_iter": o["inner_max_iter"], "tol": o["inner_tol"], "anderson": o["anderson"]}
    masses = [None if b is None else torch.as_tensor(np.ascontiguousarray(b)).to(dtype) for b in (b_safe, b_harm)]
    rhos = (o["rho"], o["rho"] if o["push_rho"] == "same" else o["push_rho"])
    sides = tuple(_Problem(corpus, name, b, isolated.get(name), r, options)
                  for name, b, r in zip(("pull", "push"), masses, rhos))
    push_beta = beta if b_safe is not None else 1.0  # push-only: J = −OT_H + tau·KL
    run = mirror_descent(ShardedWeights(corpus), sides, n, beta=push_beta, tau=tau, eta=eta, max_outer=o["max_outer"],
                         tol=o["tol"], adaptive=o["adaptive"], progress=o["progress"], warn=o["warn"],
                         desc="SOT mirror descent (Dask)")
    weights, pull, push = corpus.rows("results", n)
    return PushPullResult(weights=weights, pull_potential=pull, push_potential=push, objective=run.objective,
                          converged=run.converged, outer_iterations=run.outer_iterations,
                          inner_iterations=run.inner_iterations, marginal_error=run.marginal_error,
                          seconds=time.perf_counter() - start, rejected_steps=run.rejected_steps,
                          final_eta=run.final_eta)
