"""Weight columns for the SOT end-to-end experiment, from `curate sot-weight` (SOT and the NN heuristic)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def weight_column(data: Path, method: str) -> tuple[np.ndarray | None, dict]:
    """`curate sot-weight --method METHOD` on data/ft.parquet with the experiment's anchor files; its sot_weight."""
    out = data / f"weights_{method}.parquet"
    curate = shutil.which("curate") or str(Path(sys.executable).with_name("curate"))
    command = [curate, "sot-weight", "--data", str(data / "ft.parquet"), "--safe", str(data / "safe_anchor.parquet"),
               "--harmful", str(data / "harmful_reference.parquet"), "--method", method, "--out", str(out)]
    info: dict = {"command": " ".join(command)}
    if not out.exists():
        done = subprocess.run(command, capture_output=True, text=True)
        info["stdout"] = done.stdout[-1500:]
        if done.returncode != 0:
            return None, info | {"status": "failed or unavailable", "stderr": done.stderr[-2000:]}
    weighted = pq.read_table(out)
    ids = pq.read_table(data / "ft.parquet").column("id").to_pylist()
    by_id = dict(zip(weighted.column("id").to_pylist(), weighted.column("sot_weight").to_pylist()))
    return np.array([by_id[i] for i in ids], dtype=np.float64), info | {"status": "ok"}
