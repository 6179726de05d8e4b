"""Method and solver dispatch: unit embeddings in, PushPullResult out (SOT or a baseline), in this process or
with the rows sharded over Dask workers (transport/distributed.py)."""

from __future__ import annotations

import time

import numpy as np
import torch

from curate.errors import ConfigError, InputError
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
from transport.dask_kernels import KernelSettings, knn_graph
from transport.pushpull import PushPullResult, push_pull
from transport.sparse import SparseKernel
from transport.stream import StreamKernel

__all__ = ["choose_solver", "solve_weights", "solve_sharded"]

DENSE_LIMIT = 50_000_000  # cost entries (200 MB in float32) per problem


def choose_solver(config: SOTConfig, n: int, m: int, device: torch.device) -> str:
    """auto → dense when n·m fits, stream on CUDA, sparse kNN otherwise; with Dask a dense choice becomes stream
    (the same cost rebuilt per block on the workers: a dense matrix does not shard)."""
    solver = config.solver
    if solver == "auto":
        solver = "dense" if n * m <= DENSE_LIMIT else ("stream" if device.type == "cuda" else "sparse")
    return "stream" if solver == "dense" and config.dask is not None else solver


def _kernel(x: np.ndarray, y: np.ndarray, solver: str, config: SOTConfig, device, dtype):
    if solver == "sparse":  # FAISS searches on the GPU when --device is CUDA and faiss-gpu is installed
        cost, idx = knn_graph(x, y, min(config.knn, len(y)), seed=config.seed, device=device,
                              progress=config.progress)
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


def _temperature(config: SOTConfig) -> float:
    return config.temperature or (config.heuristic_temperature if config.method == "heuristic"
                                  else DEFAULT_TEMPERATURE["classifier"])


def _baseline(x: np.ndarray, safe: np.ndarray, harmful: np.ndarray, config: SOTConfig):
    """(weights, pull column, push column, temperature) of a non-OT method. The columns hold the heuristic's
    distances to the nearest safe / harmful anchor, the classifier's P(harmful) and 1 − P(harmful), or zeros."""
    n = len(x)
    if config.method == "uniform":
        return uniform_weights(n), np.zeros(n), np.zeros(n), None
    temperature = _temperature(config)
    if config.method == "heuristic":
        near_s, near_h = heuristic_scores(x, safe, harmful)
        return scores_to_weights(near_h - near_s, temperature), 1.0 - near_s, 1.0 - near_h, temperature
    risk = classifier_scores(x, safe, harmful, seed=config.seed)
    return scores_to_weights(risk, temperature), risk, 1.0 - risk, temperature


def _check_anchor_sets(safe: np.ndarray, harmful: np.ndarray) -> None:
    for name, y in (("safe", safe), ("harmful", harmful)):
        if len(y) == 0:
            raise InputError(f"the {name} anchor set is empty; give --{name} a non-empty input")


def _rhos(config: SOTConfig, solver: str) -> tuple[float | None, float | None]:
    """--rho and --push-rho, 0.1 for the sparse solver when unset (a kNN graph rarely admits a balanced plan)."""
    sparse = solver == "sparse"
    rho = config.rho if config.rho is not None or not sparse else 0.1
    push_rho = config.push_rho if config.push_rho is not None or not sparse else 0.1
    return rho, push_rho


def _solver_options(config: SOTConfig, rho: float | None, push_rho: float | None, dtype: torch.dtype) -> dict:
    """The push_pull keywords from the config; warn=False: the result's `converged` goes to weights.json and
    `curate sot-weight` says it in one line."""
    return dict(beta=config.beta, tau=config.tau, eta=config.eta, rho=rho, push_rho=push_rho,
                max_outer=config.max_outer, tol=config.tol, inner_max_iter=config.inner_max_iter,
                inner_tol=config.inner_tol, adaptive=config.step_rule == "adaptive", anderson=config.anderson,
                dtype=dtype, progress=config.progress, warn=False)


def check_finite_result(res: PushPullResult, config: SOTConfig) -> PushPullResult:
    """`res` unchanged, or ConfigError when a weight or potential is NaN/inf: nothing non-finite is ever written."""
    for name in ("weights", "pull_potential", "push_potential"):
        values = getattr(res, name)
        bad = int((~torch.isfinite(values)).sum()) if isinstance(values, torch.Tensor) else \
            int((~np.isfinite(np.asarray(values, dtype=np.float64))).sum())
        if bad:
            raise ConfigError(f"--method {config.method}: {bad} of {len(values)} {name} values are NaN/inf at "
                              f"--eps {config.eps:g} --tau {config.tau:g}; raise --eps (e.g. --eps "
                              f"{2 * config.eps:g}) or --tau, or pass --dtype float64")
    return res


def solve_weights(x: np.ndarray, safe: np.ndarray, harmful: np.ndarray, config: SOTConfig,
                  device: torch.device, client=None) -> tuple[PushPullResult, dict]:
    """Weights for unit rows x [n, d] from unit anchors safe [m_s, d], harmful [m_h, d]; plus solver info.

    With --dask the rows are cut into 50,000-row shards that travel to the workers (`client`, else a cluster
    started from --dask) and the solve runs there (solve_sharded); a large corpus is better read by the workers
    themselves from its embedding folder, as `curate sot-weight --dask` does.
    """
    _check_anchor_sets(safe, harmful)
    if config.dask is not None:
        return _solve_on_cluster(x, safe, harmful, config, client)
    n, start = len(x), time.perf_counter()
    if config.method in ("uniform", "heuristic", "classifier"):
        w, pull, push, temperature = _baseline(x, safe, harmful, config)
        res = PushPullResult(w, pull, push, [], True, 0, seconds=time.perf_counter() - start)
        return check_finite_result(res, config), {"solver": "none", "temperature": temperature}
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    use_pull, use_push = config.method in ("sot", "pull-only"), config.method in ("sot", "push-only")
    solver = choose_solver(config, n, max(len(safe), len(harmful)), device)
    rho, push_rho = _rhos(config, solver)
    kernels, masses = [], []
    for used, y in ((use_pull, safe), (use_push, harmful)):
        if not used:
            kernels.append(None), masses.append(None)
            continue
        y_c, b = _anchors(y, solver, config)
        kernels.append(_kernel(x, np.ascontiguousarray(y_c), solver, config, device, dtype))
        masses.append(b)  # numpy masses: push_pull returns numpy weights
    prepared = time.perf_counter() - start
    res = push_pull(kernels[0], kernels[1], masses[0], masses[1], device=device,
                    **_solver_options(config, rho, push_rho, dtype))
    info = {"solver": solver, "rho": rho, "push_rho": push_rho,
            "prepare_seconds": prepared, "anchors": [None if b is None else len(b) for b in masses]}
    return check_finite_result(res, config), info


def _solve_on_cluster(x, safe, harmful, config: SOTConfig, client) -> tuple[PushPullResult, dict]:
    from embed.dask import connect
    from transport.dask_shards import array_shards
    from transport.distributed import ShardedCorpus

    close = None
    if client is None:
        client, close = connect(config.dask)
    corpus = None
    try:
        corpus = ShardedCorpus(client, array_shards(np.ascontiguousarray(x, dtype=np.float32)))
        return solve_sharded(corpus, safe, harmful, config)
    finally:
        if corpus is not None:
            corpus.close()
        if close is not None:
            close()


def _sharded_baseline(corpus, safe: np.ndarray, harmful: np.ndarray, config: SOTConfig):
    """_baseline on the workers' rows: (weights, pull column, push column, temperature), [n] in shard order."""
    if config.method == "uniform":
        corpus.call("read_rows")  # which rows are good
        corpus.refresh()
        corpus.check_rows(config.on_error)
        return uniform_weights(corpus.n), np.zeros(corpus.n), np.zeros(corpus.n), None
    temperature = _temperature(config)
    top = max(corpus.call("baseline_scores", config.method, safe, harmful, config.seed, temperature))
    corpus.refresh()
    corpus.check_rows(config.on_error)
    n = corpus.n
    total = corpus.sum("risk_sum", top)
    return (*corpus.rows("risk_results", top, total, n), temperature)


def solve_sharded(corpus, safe: np.ndarray, harmful: np.ndarray, config: SOTConfig) -> tuple[PushPullResult, dict]:
    """solve_weights for the rows a transport.distributed.ShardedCorpus holds on Dask workers: the same options and
    the same result (weights and potentials [n] in shard order), with the kernels built and kept by the workers on
    --device. Equals the local solve up to float rounding in the order of sums.

    The info's payload bytes: `setup_bytes` (anchors out, edge counts back), `solve_bytes` and
    `bytes_per_outer_step` (the O(m) calls of the iterations, flat in n), `result_bytes` (the one O(n) gather of
    every row's weight and two potentials, float64, at the end) and `total_bytes` (all three)."""
    from transport.dask_pushpull import sharded_push_pull

    _check_anchor_sets(safe, harmful)
    if config.method in ("uniform", "heuristic", "classifier"):
        start = time.perf_counter()
        w, pull, push, temperature = _sharded_baseline(corpus, safe, harmful, config)
        res = PushPullResult(w, pull, push, [], True, 0, seconds=time.perf_counter() - start)
        return check_finite_result(res, config), {"solver": "none", "temperature": temperature, "engine": "dask"}
    start, traffic_before = time.perf_counter(), dict(corpus.traffic)
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    device = torch.device("cuda" if "cuda" in config.device or config.device == "auto" and torch.cuda.is_available()
                          else "cpu")  # the driver's guess at the workers' device, for the solver choice
    solver = choose_solver(config, corpus.n, max(len(safe), len(harmful)), device)
    rho, push_rho = _rhos(config, solver)
    anchors, masses = {}, {}
    for name, used, y in (("pull", config.method in ("sot", "pull-only"), safe),
                          ("push", config.method in ("sot", "push-only"), harmful)):
        if used:
            y_c, masses[name] = _anchors(y, solver, config)
            anchors[name] = np.ascontiguousarray(y_c, dtype=np.float32)
    settings = KernelSettings(solver, config.eps, config.knn, config.seed, config.device, config.dtype)
    isolated = corpus.build_kernels(anchors, settings)
    corpus.check_rows(config.on_error)
    prepared, traffic_setup = time.perf_counter() - start, dict(corpus.traffic)
    res = sharded_push_pull(corpus, masses.get("pull"), masses.get("push"), eps=config.eps, isolated=isolated,
                            **_solver_options(config, rho, push_rho, dtype))
    after = dict(corpus.traffic)
    moved = {k: after[k] - traffic_setup[k] for k in ("sent", "received", "calls", "gathered")}
    info = {"solver": "dask", "kernel": solver, "engine": "dask", "rho": rho, "push_rho": push_rho,
            "prepare_seconds": prepared, "anchors": [len(masses[k]) if k in masses else None for k in ("pull", "push")],
            "shards": len(corpus.shards), "workers": len(corpus.groups),
            "worker_devices": sorted(set(corpus.call("device"))),
            "setup_bytes": sum(traffic_setup[k] - traffic_before[k] for k in ("sent", "received")),
            "solve_bytes": moved["sent"] + moved["received"], "solve_calls": moved["calls"],
            "bytes_per_outer_step": (moved["sent"] + moved["received"]) / max(res.outer_iterations, 1),
            "result_bytes": moved["gathered"],
            "total_bytes": sum(after[k] - traffic_before[k] for k in ("sent", "received", "gathered"))}
    return check_finite_result(res, config), info
