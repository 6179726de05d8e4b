"""SOT on a Dask process cluster (`--dask local:2`) at n = 1e5 and 1e6: does the driver stay small?

Synthetic clustered unit vectors (d = 384, 5 % harmful) are written as an embedding folder of 50,000-row shards,
with 10k safe + 10k harmful anchors beside it; `curate sot-weight --dask local:N --solver sparse` then weights the
folder, its workers reading their own shards. Each size runs in its own subprocess (data generation in another),
and reports wall time, the driver's peak RSS and the workers' (psutil, sampled every 50 ms in a thread), the
payload bytes the driver sent and received per outer step (the O(m) calls of the iterations; the one O(n) gather
of the results is not in them), and, up to --compare-max rows, the largest weight difference from the same
command run locally.

    .venv/bin/python -m bench.sot.dask_scale                    # n = 1e5 and 1e6
    .venv/bin/python -m bench.sot.dask_scale --n 20000          # smoke run
    .venv/bin/python -m bench.sot.dask_scale --n 20000 --shard-rows 2000 --anchors 2000   # many small shards
    .venv/bin/python -m bench.sot.dask_scale --n 100000 1000000 --workers 4 --out results.json

Results go to bench/results/sot/dask_scale.json (or --out); the work folder (--work) keeps the data and outputs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json

ROOT = Path(__file__).resolve().parents[2]
SHARD_ROWS = 50_000


def _write_folder(folder: Path, parts, dim: int) -> None:
    """An embedding folder (shards + a manifest marking each complete) from (ids, vectors) parts, its manifest kept
    by embed's Manifest as `curate embed` keeps it (a fresh one: an earlier manifest here is replaced)."""
    from embed.manifest import Manifest
    from embed.writer import shard_name, write_shard

    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(folder, {"model": "synthetic", "model_fingerprint": f"synthetic-d{dim}"})
    for index, (ids, vectors) in enumerate(parts):
        manifest.begin(index, shard_name(index))
        size = write_shard(folder, index, ids, vectors)
        manifest.complete({"index": index, "name": shard_name(index), "rows": len(ids), "records": len(ids),
                           "bytes": size}, dim)
    manifest.finish({"count": 0, "examples": []}, time.perf_counter() - started)


def generate(n: int, work: Path, anchors: int, shard_rows: int = SHARD_ROWS) -> None:
    """Corpus (n rows, the last 5 % harmful) and both anchor sets as embedding folders, shard by shard."""
    import numpy as np

    from bench.sot.scale import clustered

    rng = np.random.default_rng(0)
    centers = rng.standard_normal((200, 384), dtype=np.float32)
    benign, harm = np.arange(190), np.arange(190, 200)
    n_harm = n // 20

    def corpus():
        for start in range(0, n, shard_rows):
            rows = min(shard_rows, n - start)
            harmful = np.arange(start, start + rows) >= n - n_harm
            x = np.empty((rows, 384), dtype=np.float32)
            for label, which in ((False, benign), (True, harm)):
                if (harmful == label).any():
                    x[harmful == label] = clustered(rng, centers, which, int((harmful == label).sum()))
            yield [f"r{k:09d}" for k in range(start, start + rows)], x

    _write_folder(work / f"corpus-{n}", corpus(), 384)
    for name, which in (("safe", benign), ("harmful", harm)):
        if not (work / name / "manifest.json").exists():
            _write_folder(work / name, [([f"{name[0]}{k}" for k in range(anchors)],
                                         clustered(rng, centers, which, anchors))], 384)


class PeakRSS:
    """Peak resident memory of this process and, separately, of its child processes (the Dask workers)."""

    def __init__(self, every: float = 0.05):
        import psutil

        self.process, self.every, self.driver, self.workers = psutil.Process(), every, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            self.driver = max(self.driver, self.process.memory_info().rss)
            for child in self.process.children(recursive=True):
                try:
                    self.workers[child.pid] = max(self.workers.get(child.pid, 0), child.memory_info().rss)
                except psutil.Error:  # a worker that just exited
                    pass
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def one_run(n: int, args, dask: str | None) -> dict:
    """`curate sot-weight` on the size-n folder (on the cluster, or locally with dask=None); figures as a dict."""
    from transport.config import SOTConfig
    from transport.pipeline import run

    work = Path(args.work)
    out = work / f"weights-{n}-{'dask' if dask else 'local'}.parquet"
    config = SOTConfig(out=out, data=str(work / f"corpus-{n}"), safe=str(work / "safe"),
                       harmful=str(work / "harmful"), solver="sparse", knn=args.knn, anchor_clusters=args.clusters,
                       max_outer=args.max_outer, dtype=args.dtype, dask=dask, progress=False, overwrite=True)
    started = time.perf_counter()
    with PeakRSS() as rss:
        summary = run(config)
    seconds = time.perf_counter() - started
    saved = json.loads(out.with_suffix(".json").read_text())
    solver = saved["solver"]
    return {"n": n, "dask": dask, "seconds": round(seconds, 2), "timings": saved["timings"],
            "outer_iterations": saved["outer_iterations"], "converged": saved["converged"],
            "inner_iterations": int(sum(a + b for a, b in saved["inner_iterations"])),
            "driver_peak_rss_mb": round(rss.driver / 2**20, 1),
            "worker_peak_rss_mb": sorted(round(v / 2**20, 1) for v in rss.workers.values()),
            "bytes_per_outer_step": solver.get("bytes_per_outer_step"), "solve_bytes": solver.get("solve_bytes"),
            "solve_calls": solver.get("solve_calls"), "setup_bytes": solver.get("setup_bytes"),
            "shards": solver.get("shards"), "workers": solver.get("workers"), "kept": summary["kept"],
            "out": str(out), **machine_info()}


def compare(n: int, work: Path) -> dict:
    """Largest |Δ sot_weight| between the Dask and the local output (same ids, same order)."""
    import numpy as np
    import pyarrow.parquet as pq

    a, b = (pq.read_table(work / f"weights-{n}-{side}.parquet") for side in ("dask", "local"))
    same_ids = a.column("id").to_pylist() == b.column("id").to_pylist()
    wa, wb = a.column("sot_weight").to_numpy(), b.column("sot_weight").to_numpy()
    return {"same_ids": same_ids, "max_abs_weight_diff": float(np.abs(wa - wb).max()),
            "max_rel_weight_diff": float((np.abs(wa - wb) / np.maximum(np.abs(wb), 1e-12)).max()),
            "same_keep": a.column("keep").to_pylist() == b.column("keep").to_pylist()}


def _child(args, *extra: str) -> dict | None:
    command = [sys.executable, "-m", "bench.sot.dask_scale", "--work", str(args.work), "--anchors", str(args.anchors),
               "--knn", str(args.knn), "--clusters", str(args.clusters), "--max-outer", str(args.max_outer),
               "--workers", str(args.workers), "--dtype", args.dtype, "--shard-rows", str(args.shard_rows), *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--n", "--sizes", dest="sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="corpus sizes, each run in its own subprocess (default: 1e5 and 1e6)")
    parser.add_argument("--anchors", type=int, default=10_000, help="safe and harmful anchors each")
    parser.add_argument("--knn", type=int, default=32)
    parser.add_argument("--clusters", type=int, default=2048, help="k-means anchor compression")
    parser.add_argument("--max-outer", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of --dask local:N")
    parser.add_argument("--shard-rows", type=int, default=SHARD_ROWS, help="rows per corpus shard (many small "
                        "shards: the per-step traffic must not grow with their number)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--compare-max", type=int, default=100_000, help="also run locally up to this n")
    parser.add_argument("--work", type=Path, default=None, help="data and outputs (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS / "sot" / "dask_scale.json")
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--local", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        return generate(args.generate, args.work, args.anchors, args.shard_rows)
    if args.one:
        print(json.dumps(one_run(args.one, args, None if args.local else f"local:{args.workers}")))
        return
    with tempfile.TemporaryDirectory(prefix="sot-dask-scale-") as scratch:
        args.work = args.work or Path(scratch)
        rows = [_size(n, args) for n in args.sizes]
    report = {"runs": rows, "settings": {k: v for k, v in vars(args).items() if k not in ("generate", "one", "local")}}
    dask_rows = [r for r in rows if r["dask"]]
    if len(dask_rows) > 1:
        report["driver_rss_ratio"] = round(dask_rows[-1]["driver_peak_rss_mb"] / dask_rows[0]["driver_peak_rss_mb"], 3)
        print(f"driver peak RSS, n={dask_rows[-1]['n']:.0e} / n={dask_rows[0]['n']:.0e}: {report['driver_rss_ratio']}")
    write_json(args.out, report)
    print(f"wrote {args.out}")


def _size(n: int, args) -> dict:
    _child(args, "--generate", str(n))
    row = _child(args, "--one", str(n))
    print(json.dumps(row), flush=True)
    if n <= args.compare_max:
        local = _child(args, "--one", str(n), "--local")
        row["local"] = {k: local[k] for k in ("seconds", "driver_peak_rss_mb", "outer_iterations", "converged")}
        row["versus_local"] = compare(n, Path(args.work))
        print(json.dumps({"n": n, "local": row["local"], "versus_local": row["versus_local"]}), flush=True)
    return row


if __name__ == "__main__":
    main()
