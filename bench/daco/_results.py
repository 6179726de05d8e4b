"""bench/results/daco.json is shared by several scripts (steering, label precision, SAE, OMP): each one replaces
only its own keys. The folder is locked while the file is read and rewritten (the same lock bench.sae takes), so
two scripts that finish together keep both updates."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["update_results"]


def update_results(path: Path, updates: dict[str, Any]) -> dict:
    """Set the keys of `updates` in the JSON object at `path`, keeping its other keys; returns the whole object."""
    from curate.errors import InputError
    from curate.io import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        try:
            current = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: not valid JSON ({err}); repair it or move it away first") from err
        if not isinstance(current, dict):
            raise InputError(f"{path}: holds a JSON {type(current).__name__}, not an object keyed by result; "
                             "move it away")
        current.update(updates)
        atomic_write_text(path, json.dumps(current, indent=2, default=str) + "\n")
    finally:
        os.close(folder)  # closing the descriptor releases the lock
    return current
