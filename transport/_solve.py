"""Method and solver dispatch: unit embeddings in, PushPullResult out (SOT or a baseline)."""

from __future__ import annotations

import time

import numpy as np
import torch

from curate.errors import InputError
from transport._kernels import DenseKernel
from transport.baselines import (
    DEFAULT_TEMPERATURE,
    classifier_scores,
    heuristic_scores,
    scores_to_weights,
    uniform_weights,
)
from transport.compress import compress_anchors
from transport.config import SOTConfig
from transport.cost import cosine_cost
from transport.pushpull import PushPullResult, push_pull
from transport.sparse import SparseKernel, knn_anchors
from transport.stream import StreamKernel

__all__ = ["choose_solver", "solve_weights"]

DENSE_LIMIT = 50_000_000  # cost entries (200 MB in float32) per problem


def choose_solver(config: SOTConfig, n: int, m: int, device: torch.device) -> str:
    """auto → dense when n·m fits, stream on CUDA or with Dask, sparse kNN otherwise."""
    if config.solver != "auto":
        return config.solver
    if n * m <= DENSE_LIMIT:
        return "dense"
    return "stream" if device.type == "cuda" else "sparse"


def _kernel(x: np.ndarray, y: np.ndarray, solver: str, config: SOTConfig, device, dtype, client):
    if config.dask is not None:
        from transport.distributed import DaskKernel

        shards = [x[i : i + 50_000].astype(np.float64 if dtype == torch.float64 else np.float32)
                  for i in range(0, len(x), 50_000)]
        return DaskKernel(shards, y.astype(shards[0].dtype), config.eps, client=client)
    if solver == "sparse":
        cost, idx = knn_anchors(x, y, min(config.knn, len(y)), seed=config.seed, progress=config.progress)
        return SparseKernel(torch.from_numpy(cost).to(device, dtype), torch.from_numpy(idx).to(device), len(y),
                            config.eps)
    xt, yt = torch.from_numpy(x).to(device, dtype), torch.from_numpy(y).to(device, dtype)
    if solver == "stream":
        return StreamKernel(xt, yt, config.eps)
    return DenseKernel(cosine_cost(xt, yt), config.eps)


def _anchors(y: np.ndarray, solver: str, config: SOTConfig) -> tuple[np.ndarray, np.ndarray]:
    clusters = config.anchor_clusters or (2048 if solver == "sparse" and len(y) > 4096 else None)
    if clusters is None:
        return y, np.full(len(y), 1.0 / len(y))
    return compress_anchors(y, None, clusters, seed=config.seed)


def _baseline(x: np.ndarray, safe: np.ndarray, harmful: np.ndarray, config: SOTConfig):
    """(weights, pull column, push column, temperature) of a non-OT method. The columns hold the heuristic's
    distances to the nearest safe / harmful anchor, the classifier's P(harmful) and 1 − P(harmful), or zeros."""
    n = len(x)
    if config.method == "uniform":
        return uniform_weights(n), np.zeros(n), np.zeros(n), None
    temperature = config.temperature or (config.heuristic_temperature if config.method == "heuristic"
                                         else DEFAULT_TEMPERATURE["classifier"])
    if config.method == "heuristic":
        near_s, near_h = heuristic_scores(x, safe, harmful)
        return scores_to_weights(near_h - near_s, temperature), 1.0 - near_s, 1.0 - near_h, temperature
    risk = classifier_scores(x, safe, harmful, seed=config.seed)
    return scores_to_weights(risk, temperature), risk, 1.0 - risk, temperature


def solve_weights(x: np.ndarray, safe: np.ndarray, harmful: np.ndarray, config: SOTConfig,
                  device: torch.device, client=None) -> tuple[PushPullResult, dict]:
    """Weights for unit rows x [n, d] from unit anchors safe [m_s, d], harmful [m_h, d]; plus solver info."""
    for name, y in (("safe", safe), ("harmful", harmful)):
        if len(y) == 0:
            raise InputError(f"the {name} anchor set is empty; give --{name} a non-empty input")
    n, start = len(x), time.perf_counter()
    if config.method in ("uniform", "heuristic", "classifier"):
        w, pull, push, temperature = _baseline(x, safe, harmful, config)
        res = PushPullResult(w, pull, push, [], True, 0, seconds=time.perf_counter() - start)
        return res, {"solver": "none", "temperature": temperature}
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    use_pull, use_push = config.method in ("sot", "pull-only"), config.method in ("sot", "push-only")
    solver = choose_solver(config, n, max(len(safe), len(harmful)), device)
    sparse = solver == "sparse" and config.dask is None
    rho = config.rho if config.rho is not None or not sparse else 0.1
    push_rho = config.push_rho if config.push_rho is not None or not sparse else 0.1
    kernels, masses = [], []
    for used, y in ((use_pull, safe), (use_push, harmful)):
        if not used:
            kernels.append(None), masses.append(None)
            continue
        y_c, b = _anchors(y, solver, config)
        kernels.append(_kernel(x, np.ascontiguousarray(y_c), solver, config, device, dtype, client))
        masses.append(b)  # numpy masses: push_pull returns numpy weights
    prepared = time.perf_counter() - start
    # warn=False: the result's `converged` goes to weights.json and `curate sot-weight` says it in one line
    res = push_pull(kernels[0], kernels[1], masses[0], masses[1], beta=config.beta, tau=config.tau, eta=config.eta,
                    rho=rho, push_rho=push_rho, max_outer=config.max_outer, tol=config.tol,
                    inner_max_iter=config.inner_max_iter,
                    inner_tol=config.inner_tol, adaptive=config.step_rule == "adaptive", anderson=config.anderson,
                    dtype=dtype, device=device, progress=config.progress, warn=False)
    info = {"solver": "dask" if config.dask else solver, "rho": rho, "push_rho": push_rho,
            "prepare_seconds": prepared, "anchors": [None if b is None else len(b) for b in masses]}
    return res, info
