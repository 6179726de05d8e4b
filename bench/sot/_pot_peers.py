"""The solvers that bench.sot.vs_pot races on one push-pull problem.

- POT peers: the mirror descent of transport/pushpull.py (same step, same step rule, same stopping rule) with each
  inner OT problem solved by `ot.sinkhorn` — default method or `sinkhorn_log`, numpy float64 or POT's torch
  backend float32 — warm-started from the previous outer step. The warm start is the POT user's best one: the
  previous log-scalings with log u shifted by log(w_new / w_old), since u = w / (K v) is linear in the weights.
- ours: `transport.pushpull.push_pull` on dense kernels, as `curate sot-weight --solver dense` builds them, with its
  time split into kernel build (cost matrix, Gibbs-kernel exp passes), inner Sinkhorn iterations and outer steps.

Every run records each evaluated iterate (elapsed seconds since the solver started, weights, its own estimate of J,
accepted or not), so the benchmark can judge when a solver first held an iterate within the goal objective.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

__all__ = ["Problem", "Point", "Run", "PotPeer", "PEERS", "run_pot", "run_ours"]


@dataclass(frozen=True)
class Problem:
    """One push-pull problem (unit rows x [n, d], anchors safe [m_s, d], harm [m_h, d], uniform anchor masses)
    and the settings every solver shares: J = OT_eps(w, safe) − beta·OT_eps(w, harm) + tau·KL(w ‖ 1/n)."""

    x: np.ndarray
    safe: np.ndarray
    harm: np.ndarray
    eps: float
    beta: float
    tau: float
    eta: float
    adaptive: bool
    max_outer: int
    tol: float
    inner_max_iter: int
    inner_tol: float
    anderson: int
    time_limit: float | None = None
    """POT peers stop their outer loop once this many seconds have passed (the run is then marked time-limited)."""

    def head(self, n: int, m: int) -> Problem:
        """The same settings on the first n rows and m anchors of each set, two outer steps (a warm-up)."""
        return replace(self, x=self.x[:n], safe=self.safe[:m], harm=self.harm[:m], max_outer=2)


@dataclass(frozen=True)
class Point:
    """An evaluated iterate: seconds since the solver started, weights [n] (sum 1, float64), own J, accepted."""

    seconds: float
    weights: np.ndarray
    value: float
    accepted: bool


@dataclass
class Run:
    """What one solver did on a Problem; `split` holds the seconds of each part of its work."""

    name: str
    seconds: float
    points: list[Point]
    inner_iterations: int
    split: dict[str, float] = field(default_factory=dict)
    time_limited: bool = False
    capped_solves: int = 0
    """Inner solves that stopped at inner_max_iter before reaching inner_tol."""

    @property
    def final(self) -> Point:
        """The iterate the solver returns: its last accepted one."""
        return [p for p in self.points if p.accepted][-1]


@dataclass(frozen=True)
class PotPeer:
    """One POT configuration: `ot.sinkhorn` method, backend and dtype."""

    method: Literal["sinkhorn", "sinkhorn_log"]
    backend: Literal["numpy", "torch"]
    dtype: Literal["float64", "float32"]

    @property
    def name(self) -> str:
        return f"pot-{self.method.replace('_', '-')}-{self.backend}-{self.dtype}"


PEERS = {p.name: p for p in (PotPeer("sinkhorn", "numpy", "float64"), PotPeer("sinkhorn", "torch", "float32"),
                             PotPeer("sinkhorn_log", "numpy", "float64"), PotPeer("sinkhorn_log", "torch", "float32"))}
"""The POT configurations by name: POT's default method and its log method, numpy float64 and torch float32."""


def _mirror_descent(evaluate: Callable, n: int, p: Problem, start: float) -> tuple[list[Point], bool]:
    """transport.pushpull's outer loop in numpy float64; evaluate(log_w) → (centred f_S, centred f_H, J).
    Returns the evaluated iterates and whether p.time_limit stopped the loop."""
    log_w, eta = np.full(n, -math.log(n)), p.eta
    eta_max = 1.0 / p.tau if p.tau > 0 else 64.0 * p.eta
    best, points = None, []
    for _ in range(p.max_outer):
        f_s, f_h, value = evaluate(log_w)
        accepted = not (p.adaptive and best is not None and value > best[3] + 1e-12 * abs(best[3]))
        points.append(Point(time.perf_counter() - start, np.exp(log_w), value, accepted))
        if p.time_limit is not None and points[-1].seconds > p.time_limit:
            return points, True
        if not accepted:
            eta *= 0.5
            eta_max = eta
            if eta * max(p.tau, 1e-12) < 1e-6:
                break
        else:
            diff = None if best is None else abs(value - best[3])
            best = (log_w, f_s, f_h, value)
            if diff is not None and diff <= p.tol * max(abs(value), 1e-12):
                break
            if p.adaptive:
                eta = min(eta * 1.5, eta_max)
        log_w = _step(best, eta, p)
    return points, False


def _step(best: tuple, eta: float, p: Problem) -> np.ndarray:
    """The exponentiated-gradient step of transport.pushpull._LocalWeights.step, floored at e^−30 of uniform."""
    log_w, f_s, f_h, _ = best
    n = len(log_w)
    z = log_w - eta * (f_s - p.beta * f_h + p.tau * (log_w + math.log(n) + 1.0))
    return np.maximum(z - np.logaddexp.reduce(z), -math.log(n) - 30.0)


class _PotProblem:
    """One OT problem solved with ot.sinkhorn, warm-started from the previous solve."""

    def __init__(self, peer: PotPeer, x: np.ndarray, y: np.ndarray, p: Problem):
        self.peer, self.p = peer, p
        self.cost = self._array(1.0 - x.astype(peer.dtype) @ y.astype(peer.dtype).T)  # [n, m], built once
        self.log_b = np.full(len(y), -math.log(len(y)))
        self.b = self._array(np.exp(self.log_b))
        self.warm: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (log w, log u, log v) of the last solve
        self.iterations = self.capped = 0

    def _array(self, a: np.ndarray):
        a = np.ascontiguousarray(a, dtype=self.peer.dtype)
        if self.peer.backend == "numpy":
            return a
        import torch

        return torch.from_numpy(a)

    def solve(self, log_w: np.ndarray) -> tuple[np.ndarray, float]:
        """(centred source potential f [n], dual value <f, w> + <g, b>) at weights exp(log_w)."""
        import ot

        warmstart = None
        if self.warm is not None:
            old_log_w, log_u, log_v = self.warm
            warmstart = (self._array(log_u + log_w - old_log_w), self._array(log_v))
        _, log = ot.sinkhorn(self._array(np.exp(log_w)), self.b, self.cost, self.p.eps, method=self.peer.method,
                             numItermax=self.p.inner_max_iter, stopThr=self.p.inner_tol, log=True, warn=False,
                             warmstart=warmstart)
        if "log_u" in log:
            log_u, log_v = _numpy(log["log_u"]), _numpy(log["log_v"])
        else:
            log_u, log_v = np.log(_numpy(log["u"])), np.log(_numpy(log["v"]))
        self.warm, self.iterations = (log_w, log_u, log_v), self.iterations + int(log["niter"]) + 1
        self.capped += int(log["niter"]) + 1 >= self.p.inner_max_iter
        f, g = self.p.eps * (log_u - log_w), self.p.eps * (log_v - self.log_b)
        return f - f.mean(), float(f @ np.exp(log_w) + g @ np.exp(self.log_b))


def _numpy(a) -> np.ndarray:
    return np.asarray(a.cpu().numpy() if hasattr(a, "cpu") else a, dtype=np.float64)


def run_pot(peer: PotPeer, p: Problem) -> Run:
    """The push-pull mirror descent with both OT problems solved by POT as `peer` says."""
    start = time.perf_counter()
    pull, push = _PotProblem(peer, p.x, p.safe, p), _PotProblem(peer, p.x, p.harm, p)
    built = time.perf_counter()
    split = {"cost": built - start, "sinkhorn": 0.0}

    def evaluate(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        t0 = time.perf_counter()
        (f_s, v_s), (f_h, v_h) = pull.solve(log_w), push.solve(log_w)
        split["sinkhorn"] += time.perf_counter() - t0
        w = np.exp(log_w)
        return f_s, f_h, v_s - p.beta * v_h + p.tau * float(w @ (log_w + math.log(len(w))))

    points, limited = _mirror_descent(evaluate, len(p.x), p, start)
    seconds = time.perf_counter() - start
    split["outer"] = seconds - split["cost"] - split["sinkhorn"]
    return Run(peer.name, seconds, points, pull.iterations + push.iterations, split, limited,
               pull.capped + push.capped)


@contextmanager
def _timed(kernels: list, split: dict[str, float]) -> Iterator[None]:
    """Time every inner solve push_pull makes and every Gibbs-kernel build (absorb) of `kernels`, and count the
    inner iterations and the capped solves. Restores what it replaced on exit; run_ours checks the count against
    the iterations push_pull reports, so a solver that stops calling pushpull.sinkhorn_kernel fails loudly."""
    import transport.pushpull as pushpull

    solve_original = pushpull.sinkhorn_kernel

    def solve(kernel, a, b, **options):
        t0 = time.perf_counter()
        result = solve_original(kernel, a, b, **options)
        split["sinkhorn"] += time.perf_counter() - t0
        split["iterations"] += result.iterations
        split["capped"] += not result.converged
        return result

    def timed_absorb(absorb):
        def absorb_and_time(f, g):
            t0 = time.perf_counter()
            scaling = absorb(f, g)
            split["absorb"] += time.perf_counter() - t0
            return scaling
        return absorb_and_time

    for kernel in kernels:
        kernel.absorb = timed_absorb(kernel.absorb)  # an instance attribute shadows the method
    pushpull.sinkhorn_kernel = solve
    try:
        yield
    finally:
        pushpull.sinkhorn_kernel = solve_original
        for kernel in kernels:
            del kernel.absorb


def run_ours(p: Problem) -> Run:
    """transport.pushpull.push_pull (float32, scaling domain, warm state, Anderson) on dense cosine kernels; its
    evaluated iterates come from push_pull's on_iterate callback, accepted or rejected by its own step rule.

    split: cost (the two cost matrices), absorb (exp passes building the stabilised Gibbs kernels, first and
    re-absorptions), sinkhorn_iterations (inner solves less absorb), outer (steps, objective, bookkeeping)."""
    import torch

    from transport._kernels import DenseKernel
    from transport.cost import cosine_cost
    from transport.pushpull import PushPullIterate, push_pull

    start = time.perf_counter()
    xt = torch.from_numpy(np.ascontiguousarray(p.x, dtype=np.float32))
    kernels = [DenseKernel(cosine_cost(xt, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))), p.eps)
               for y in (p.safe, p.harm)]
    split = {"cost": time.perf_counter() - start, "absorb": 0.0, "sinkhorn": 0.0, "iterations": 0, "capped": 0}
    evaluated: list[tuple[float, PushPullIterate]] = []

    def record(point: PushPullIterate) -> None:
        evaluated.append((time.perf_counter() - start, point))  # the weights are converted after the clock stops

    with _timed(kernels, split):
        result = push_pull(kernels[0], kernels[1], np.full(len(p.safe), 1.0 / len(p.safe)),
                           np.full(len(p.harm), 1.0 / len(p.harm)), beta=p.beta, tau=p.tau, eta=p.eta,
                           max_outer=p.max_outer, tol=p.tol, inner_max_iter=p.inner_max_iter, inner_tol=p.inner_tol,
                           adaptive=p.adaptive, anderson=p.anderson, dtype=torch.float32, warn=False,
                           on_iterate=record)
    seconds = time.perf_counter() - start
    if split["iterations"] != sum(a + b for a, b in result.inner_iterations):
        raise RuntimeError("bench.sot._pot_peers: _timed saw other inner iterations than push_pull reports (it no "
                           "longer solves through pushpull.sinkhorn_kernel); fix _timed before timing anything")
    times = {"cost": split["cost"], "absorb": split["absorb"], "sinkhorn_iterations": split["sinkhorn"] -
             split["absorb"], "outer": seconds - split["cost"] - split["sinkhorn"]}
    points = [Point(t, np.exp(it.log_weights.double().cpu().numpy()), it.objective, it.accepted)
              for t, it in evaluated]
    return Run("ours", seconds, points, int(split["iterations"]), times, capped_solves=int(split["capped"]))
