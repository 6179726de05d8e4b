"""SOT at n = 1e6 on the GPU: synthetic clustered unit vectors (d = 384, 5 % harmful), 10k safe + 10k harmful
anchors, the sparse solver (k-means anchor compression to 2048, 32-NN graph, semi-relaxed rho = 0.1) to
convergence and the stream solver (all 10k anchors, balanced) for a few outer steps. Part of bench/gpu/check.sh.

Uses the kernels and push_pull directly (no Parquet: the check carries no pyarrow), with the defaults of
`curate sot-weight` (transport/config.py) written out below.

    python -m bench.gpu._sot_solve --out sot_solve.json [--n 1000000] [--stream-outer 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

EPS, KNN, CLUSTERS = 0.05, 32, 2048


def solver_defaults() -> dict:
    """push_pull's keywords at the defaults of `curate sot-weight` (read from SOTConfig, not copied); the calls
    below set rho, dtype, device and warn themselves."""
    from pathlib import Path

    import torch

    from transport._solve import _solver_options
    from transport.config import SOTConfig

    options = _solver_options(SOTConfig(out=Path("unused.parquet")), None, None, torch.float32)
    return {k: v for k, v in options.items() if k not in ("rho", "push_rho", "dtype", "progress", "warn")}


def clustered(centers, which, n: int, generator, noise: float = 0.05):
    """n unit vectors around centres drawn from `which`, made on the centres' device (float32)."""
    import torch

    pick = which[torch.randint(len(which), (n,), generator=generator, device=centers.device)]
    x = centers[pick] + noise * torch.randn(n, centers.shape[1], generator=generator, device=centers.device)
    return torch.nn.functional.normalize(x, dim=1)


def problem(n: int, anchors: int, device):
    """(corpus [n, 384], harmful mask [n], safe [anchors, 384], harmful [anchors, 384]) on `device`."""
    import torch

    generator = torch.Generator(device=device).manual_seed(0)
    centers = torch.randn(200, 384, generator=generator, device=device)
    benign, harm = torch.arange(190, device=device), torch.arange(190, 200, device=device)
    n_harm = n // 20
    x = torch.cat([clustered(centers, benign, n - n_harm, generator), clustered(centers, harm, n_harm, generator)])
    labels = np.r_[np.zeros(n - n_harm, bool), np.ones(n_harm, bool)]
    return x, labels, clustered(centers, benign, anchors, generator), clustered(centers, harm, anchors, generator)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a harmful row > score of a benign one), by ranks (Mann-Whitney; no scikit-learn here)."""
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    positives = int(labels.sum())
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * (len(labels) - positives)))


def _synchronised(device) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def sparse(x, labels, safe, harmful, device) -> dict:
    import torch

    from transport.compress import compress_anchors
    from transport.dask_kernels import faiss_gpu_count, knn_graph
    from transport.pushpull import push_pull
    from transport.sparse import SparseKernel

    timings, start = {}, _synchronised(device)
    x_np = x.cpu().numpy()
    kernels, masses = [], []
    for y in (safe, harmful):
        t0 = time.perf_counter()
        centroids, b = compress_anchors(y.cpu().numpy(), None, CLUSTERS, seed=0)
        t1 = time.perf_counter()
        cost, idx = knn_graph(x_np, centroids, KNN, device=device)
        timings["compress_s"] = timings.get("compress_s", 0.0) + t1 - t0
        timings["knn_s"] = timings.get("knn_s", 0.0) + time.perf_counter() - t1
        kernels.append(SparseKernel(torch.from_numpy(cost).to(device), torch.from_numpy(idx).to(device),
                                    len(centroids), EPS))
        masses.append(b)
    t2 = _synchronised(device)
    result = push_pull(*kernels, *masses, rho=0.1, push_rho=0.1, dtype=torch.float32, device=device, warn=False,
                       **solver_defaults())
    end = _synchronised(device)
    return {"solver": "sparse", **{k: round(v, 2) for k, v in timings.items()}, "solve_s": round(end - t2, 2),
            "total_s": round(end - start, 2), "outer_iterations": result.outer_iterations,
            "inner_iterations": int(sum(a + b for a, b in result.inner_iterations)), "converged": result.converged,
            "auroc": round(auroc(-np.asarray(result.weights), labels), 4), "faiss_gpus": faiss_gpu_count()}


def stream(x, labels, safe, harmful, device, outer: int) -> dict:
    import torch

    from transport.pushpull import push_pull
    from transport.stream import StreamKernel

    m = len(safe)
    start = _synchronised(device)
    kernels = [StreamKernel(x, y, EPS) for y in (safe, harmful)]
    b = np.full(m, 1.0 / m)
    result = push_pull(*kernels, b, b.copy(), dtype=torch.float32, device=device, warn=False,
                       **{**solver_defaults(), "max_outer": outer})
    end = _synchronised(device)
    inner = int(sum(a + b for a, b in result.inner_iterations))
    return {"solver": "stream", "anchors": [m, m], "outer_iterations": result.outer_iterations,
            "inner_iterations": inner, "solve_s": round(end - start, 2),
            "seconds_per_outer_step": round((end - start) / max(result.outer_iterations, 1), 2),
            "seconds_per_inner_iteration": round((end - start) / max(inner, 1), 4),
            "auroc_after_these_steps": round(auroc(-np.asarray(result.weights), labels), 4)}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(prog="python -m bench.gpu._sot_solve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--anchors", type=int, default=10_000)
    parser.add_argument("--stream-outer", type=int, default=2, help="outer steps of the stream solve (timed)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default="sot_solve.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    t0 = _synchronised(device)
    x, labels, safe, harmful = problem(args.n, args.anchors, device)
    report = {"n": args.n, "anchors": [args.anchors, args.anchors], "generate_s": round(_synchronised(device) - t0, 2),
              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "runs": []}
    for run in (lambda: sparse(x, labels, safe, harmful, device),
                lambda: stream(x, labels, safe, harmful, device, args.stream_outer)):
        report["runs"].append(run())
        print(json.dumps(report["runs"][-1]), flush=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
