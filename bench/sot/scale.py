"""SOT at scale: synthetic clustered unit vectors (d=384), 10k safe + 10k harmful anchors, n = 1e5, 3e5, 1e6.

Each size runs in its own subprocess so its peak RSS can be read; the sparse kNN solver with anchor compression,
float32 and batched FAISS search does the work (the defaults of `curate sot-weight --solver sparse`).

    .venv/bin/python -m bench.sot.scale                       # all sizes
    .venv/bin/python -m bench.sot.scale --sizes 100000 --max-outer 20
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import machine_info, make_parser

ROOT = Path(__file__).resolve().parents[2]  # the repository root, where `python -m bench…` finds the package


def clustered(rng, centers: np.ndarray, which: np.ndarray, n: int, noise: float = 0.05, chunk: int = 100_000):
    """n unit vectors around centres picked from `which` (float32, generated in chunks to bound memory)."""
    out = np.empty((n, centers.shape[1]), dtype=np.float32)
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        x = centers[rng.choice(which, k)] + rng.standard_normal((k, centers.shape[1]), dtype=np.float32) * noise
        out[start : start + k] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def one_size(n: int, args) -> dict:
    import torch
    from sklearn.metrics import roc_auc_score

    from transport._solve import solve_weights
    from transport.config import SOTConfig

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((200, 384), dtype=np.float32)
    benign, harm = np.arange(190), np.arange(190, 200)
    t0 = time.perf_counter()
    n_harm = n // 20
    x = np.concatenate([clustered(rng, centers, benign, n - n_harm), clustered(rng, centers, harm, n_harm)])
    safe = clustered(rng, centers, benign, args.anchors)
    harmful = clustered(rng, centers, harm, args.anchors)
    generated = time.perf_counter() - t0
    config = SOTConfig(out=Path("unused.parquet"), solver="sparse", knn=args.knn, anchor_clusters=args.clusters,
                       max_outer=args.max_outer, progress=False)
    t1 = time.perf_counter()
    result, info = solve_weights(x, safe, harmful, config, torch.device(args.device))
    total = time.perf_counter() - t1
    labels = np.r_[np.zeros(n - n_harm, bool), np.ones(n_harm, bool)]
    return {"n": n, "seconds": total, "prepare_seconds": info["prepare_seconds"], "solve_seconds": result.seconds,
            "generate_seconds": generated, "outer_iterations": result.outer_iterations,
            "inner_iterations": int(sum(a + b for a, b in result.inner_iterations)), "converged": result.converged,
            "auroc": float(roc_auc_score(labels, -result.weights)), "rho": info["rho"], "push_rho": info["push_rho"],
            "torch_threads": torch.get_num_threads(), **machine_info(),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--anchors", type=int, default=10_000, help="safe and harmful anchors each")
    parser.add_argument("--knn", type=int, default=32)
    parser.add_argument("--clusters", type=int, default=2048, help="k-means anchor compression")
    parser.add_argument("--max-outer", type=int, default=60)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args)))
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, "-m", "bench.sot.scale", "--one", str(n), "--anchors", str(args.anchors),
               "--knn", str(args.knn), "--clusters", str(args.clusters), "--max-outer", str(args.max_outer),
               "--device", args.device]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        print(f"time({rows[-1]['n']:.0e}) / time({rows[0]['n']:.0e}) = {rows[-1]['seconds'] / rows[0]['seconds']:.2f}")


if __name__ == "__main__":
    main()
