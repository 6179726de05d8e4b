"""Stage stamps: what a finished stage leaves beside its output, so a rerun can tell complete from stale.

A stamp (`OUT.stage.json`, written atomically after the stage returned) holds the hash of the stage's resolved
config and inputs, and a fingerprint of the output as it was then (file sizes and modification times, no reading).
The stage is complete when its output exists, its stamp's config hash equals the one the recipe gives now, and
the output still has the stamped fingerprint; anything else makes it run again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from curate.io import atomic_write_text
from curate.report.pipeline import STAMP_SUFFIX, stamp_path

__all__ = ["STAMP_SUFFIX", "stamp_path", "fingerprint", "config_hash", "read_stamp", "write_stamp",
           "EXECUTION_ONLY"]

EXECUTION_ONLY = ("overwrite", "progress", "threads")
"""Config fields that change how a stage runs, not what it writes: left out of the hash."""


def fingerprint(path: str | Path) -> str | None:
    """A hash of the sizes and modification times of `path` (a file, or every file below a folder); None if absent."""
    path = Path(path)
    if not path.exists():
        return None
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if ".tmp-" in file.name or file.name.endswith(STAMP_SUFFIX):
            continue
        stat = file.stat()
        name = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def config_hash(config: dict[str, Any], inputs: dict[str, str | None]) -> str:
    """sha256 of the stage's config (execution-only fields dropped) and its inputs' fingerprints."""
    kept = {k: v for k, v in config.items() if k not in EXECUTION_ONLY}
    text = json.dumps({"config": kept, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_stamp(out: str | Path) -> dict | None:
    """The stamp beside `out`; None when there is none or it cannot be read (then the stage simply runs)."""
    path = stamp_path(out)
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) else None


def write_stamp(out: str | Path, **entries: Any) -> dict:
    """Write the stamp last, once the stage has finished: entries + the output's fingerprint and the time."""
    stamp = {**entries, "out": str(out), "output_fingerprint": fingerprint(out),
             "finished_at": datetime.now(timezone.utc).isoformat(timespec="microseconds")}
    atomic_write_text(stamp_path(out), json.dumps(stamp, indent=2, default=str) + "\n")
    return stamp
