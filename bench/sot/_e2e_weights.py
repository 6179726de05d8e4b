"""Weight columns for the SOT end-to-end experiment, from `curate sot-weight` (SOT and the NN heuristic).

The command is `curate sot-weight --data ft.parquet --safe … --harmful … --method M --out weights_M.parquet`.
Only if it fails (e.g. an install without the embed package) does the fallback call the SOT engineer's
solver (`transport._solve.solve_weights`, same config defaults) on MiniLM "pair" features computed here the way
transport/_features.py defines them (prompt and response embedded separately, concatenated, unit-normalised).
results.json records which path produced the weights.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bench.common import curate_executable


def _pair_features(path: Path, cache: Path) -> np.ndarray:
    if cache.exists():
        return np.load(cache)
    from curate.evaluation.judge import encode_texts

    rows = pq.read_table(path).to_pylist()
    prompts = encode_texts([r["prompt"] or "" for r in rows])
    responses = encode_texts([r["response"] or "" for r in rows])
    x = np.concatenate([prompts, responses], axis=1)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    np.save(cache, x)
    return x


def _fallback(data: Path, method: str) -> np.ndarray:
    import torch

    from transport._solve import solve_weights
    from transport.config import SOTConfig

    x = _pair_features(data / "ft.parquet", data / "pair_ft.npy")
    safe = _pair_features(data / "safe_anchor.parquet", data / "pair_safe.npy")
    harm = _pair_features(data / "harmful_reference.parquet", data / "pair_harm.npy")
    result, _ = solve_weights(x, safe, harm, SOTConfig(out=data / "unused.parquet", method=method), torch.device("cpu"))
    return np.asarray(result.weights, dtype=np.float64)


def weight_column(data: Path, method: str) -> tuple[np.ndarray | None, dict]:
    """`curate sot-weight --method METHOD` on data/ft.parquet with the experiment's anchor files; its sot_weight."""
    out = data / f"weights_{method}.parquet"
    command = [curate_executable(), "sot-weight", "--data", str(data / "ft.parquet"),
               "--safe", str(data / "safe_anchor.parquet"), "--harmful", str(data / "harmful_reference.parquet"),
               "--method", method, "--out", str(out)]
    info: dict = {"command": " ".join(command)}
    if not out.exists():
        done = subprocess.run(command, capture_output=True, text=True)
        info["stdout"] = done.stdout[-1500:]
        if done.returncode != 0:
            info["cli_error"] = done.stderr[-600:]
            try:
                fallback = {"status": "ok", "path": "fallback: transport._solve.solve_weights"}
                return _fallback(data, method), info | fallback
            except Exception as err:  # recorded in results.json; the other methods still run
                return None, info | {"status": f"failed: {err!r}"}
    weighted = pq.read_table(out)
    ids = pq.read_table(data / "ft.parquet").column("id").to_pylist()
    by_id = dict(zip(weighted.column("id").to_pylist(), weighted.column("sot_weight").to_pylist(), strict=True))
    return np.array([by_id[i] for i in ids], dtype=np.float64), info | {"status": "ok", "path": "curate sot-weight"}
