"""What several benchmarks share: the argument parser, stage timing, the machine and its load, results JSON,
the `curate` executable, and the evaluation stage of the end-to-end experiments (SOT, CAST).

Imports only the standard library at module level, so every script's `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS", "SYSTEM_PROMPT", "make_parser", "timed", "machine_info", "write_json", "curate_executable",
    "run_command", "add_held_out_arguments", "evaluate_model", "use_all_cores",
]

RESULTS = Path(__file__).resolve().parent / "results"
"""Where measured pictures and tables are kept in the repository (bench/results/)."""

SYSTEM_PROMPT = "You are a helpful assistant."
"""The system turn of every training and evaluation chat in the end-to-end experiments."""


def make_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose --help prints the script's docstring as written (its commands and stages) and whose usage
    line names the script the way it is run (`python -m bench.sot.quality`)."""
    return argparse.ArgumentParser(prog=_prog(), description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def _prog() -> str | None:
    script = Path(sys.argv[0]).resolve()
    try:
        parts = script.relative_to(RESULTS.parents[1]).with_suffix("").parts
    except ValueError:
        parts = ()
    if parts[:1] != ("bench",):  # not run as a bench script (an interactive session): argparse's default
        return None
    return "python -m " + ".".join(parts)


@contextmanager
def timed(timings: dict[str, float], name: str, digits: int | None = None) -> Iterator[None]:
    """Record the wall time of the block as timings[name] (rounded to `digits` when given), even if it raises."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        timings[name] = round(seconds, digits) if digits is not None else seconds


def machine_info() -> dict[str, Any]:
    """Where a figure was measured and how busy the machine was: on shared cores the load average explains
    runtimes that differ between runs."""
    info: dict[str, Any] = {"machine": f"{platform.machine()} {platform.processor()}", "cpu_count": os.cpu_count()}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def write_json(path: Path, payload: Any) -> Path:
    """Write a results file atomically (a stopped run never leaves half a file); non-JSON values become str."""
    from curate.io import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
    return path


def curate_executable() -> str:
    """The `curate` command installed beside this interpreter (the same venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("curate")
    if beside.exists():
        return str(beside)
    found = shutil.which("curate")
    if found is None:
        raise SystemExit(f"no `curate` command beside {sys.executable} or on PATH; install the project: "
                         "pip install -e .")
    return found


def run_command(command: list[str], threads: int | None = None) -> None:
    """Echo a command and run it, failing on a non-zero exit; `threads` sets OMP_NUM_THREADS for the child."""
    print("$ " + " ".join(command), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    subprocess.run(command, check=True, env=env)


def add_held_out_arguments(parser: argparse.ArgumentParser, *, harmful: int, benign: int, nll_rows: int) -> None:
    """The held-out evaluation options of the end-to-end experiments (SOT, CAST): set sizes and answer length."""
    parser.add_argument("--eval-harmful", type=int, default=harmful)
    parser.add_argument("--eval-benign", type=int, default=benign)
    parser.add_argument("--nll-rows", type=int, default=nll_rows)
    parser.add_argument("--max-new-tokens", type=int, default=24)


def evaluate_model(model: str, out: Path, data: Path, args: argparse.Namespace, batch_size: int = 16) -> dict:
    """`curate eval` of one model on the held-out files a data stage wrote (eval_harmful / eval_benign /
    nll .parquet) with the run's --max-new-tokens and --max-length; skipped when out/summary.json exists."""
    from curate.evaluation.config import EvalConfig
    from curate.evaluation.run import run

    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    return run(EvalConfig(out=out, model=model, prompts=str(data / "eval_harmful.parquet"),
                          benign_prompts=str(data / "eval_benign.parquet"), nll_data=str(data / "nll.parquet"),
                          system=SYSTEM_PROMPT, max_new_tokens=args.max_new_tokens, max_length=args.max_length,
                          batch_size=batch_size, overwrite=True))


def use_all_cores(threads: int) -> dict:
    """Give torch and every loaded BLAS/OpenMP pool `threads` threads; what ran, and the environment that shaped it.
    Call after the numeric libraries are imported (threadpoolctl only sees loaded ones)."""
    import threadpoolctl
    import torch

    torch.set_num_threads(threads)
    threadpoolctl.threadpool_limits(threads)
    keys = ("internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return {"threads": threads, "torch_threads": torch.get_num_threads(),
            "environment": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                           "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
            "threadpools": [{k: pool.get(k) for k in keys} for pool in threadpoolctl.threadpool_info()]}
