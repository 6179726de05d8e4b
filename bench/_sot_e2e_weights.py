"""Weight columns for the SOT end-to-end experiment: SOT via `curate sot-weight`, and the NN heuristic."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

TEMPLATE = "{prompt}\n{response}"
HEURISTIC_TEMPERATURE = 0.05


def _embed(spec: str, cache: Path) -> np.ndarray:
    """Unit MiniLM embeddings of prompt+response rows (the embed package when present), cached as .npy."""
    if cache.exists():
        return np.load(cache)
    try:
        from embed import EmbedConfig, run

        vectors = run(EmbedConfig(inputs=(spec,), out=cache.with_suffix(""), template=TEMPLATE, overwrite=True)).vectors
    except ImportError:
        from curate.evaluation.inputs import read_table
        from curate.evaluation.judge import encode_texts

        table = read_table(spec).to_pylist()
        vectors = encode_texts([TEMPLATE.format(prompt=r["prompt"], response=r.get("response") or "") for r in table])
    np.save(cache, vectors)
    return vectors


def heuristic_column(ft_path: Path, data: Path) -> tuple[np.ndarray | None, dict]:
    """Instance-level baseline: risk = nearest-harmful minus nearest-safe cosine; weights n·softmax(-risk/T)."""
    try:
        from transport.baselines import heuristic_scores, scores_to_weights
    except ImportError as err:
        return None, {"status": f"transport.baselines unavailable: {err}"}
    x = _embed(str(ft_path), data / "emb_ft.npy")
    safe = _embed("registry:safe-anchor", data / "emb_safe.npy")
    harm = _embed("registry:harmful-reference", data / "emb_harm.npy")
    near_safe, near_harm = heuristic_scores(x, safe, harm)
    weights = scores_to_weights(near_harm - near_safe, HEURISTIC_TEMPERATURE)
    return weights, {"status": "ok", "temperature": HEURISTIC_TEMPERATURE, "anchors": [len(safe), len(harm)]}


def sot_column(ft_path: Path, data: Path, seed: int) -> tuple[np.ndarray | None, dict]:
    """SOT push-pull weights from the `curate sot-weight` command (owned by the SOT engineer)."""
    out = data / "sot"
    curate = shutil.which("curate") or str(Path(sys.executable).with_name("curate"))
    command = [curate, "sot-weight", str(ft_path), "--safe", "registry:safe-anchor",
               "--harmful", "registry:harmful-reference", "--out", str(out), "--overwrite"]
    if not (out / "weighted.parquet").exists():
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            return None, {"status": "curate sot-weight failed or unavailable", "command": " ".join(command),
                          "stderr": done.stderr[-2000:]}
    weighted = pq.read_table(out / "weighted.parquet")
    ids = pq.read_table(ft_path).column("id").to_pylist()
    by_id = dict(zip(weighted.column("id").to_pylist(), weighted.column("sot_weight").to_pylist()))
    return np.array([by_id[i] for i in ids], dtype=np.float64), {"status": "ok", "command": " ".join(command)}
