"""Merge one script's part into a shared results file (bench/results/daco.json): read, replace the key, write
atomically; an exclusive lock on the file's folder keeps two scripts from losing each other's update."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["merge_results"]


def merge_results(path: Path, key: str, value: Any) -> dict:
    """Set `key` of the JSON object in `path` to `value`, keeping every other key; returns the whole object."""
    from curate.errors import InputError
    from curate.io import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)  # locking the folder leaves no lock file behind
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        try:
            current = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: not valid JSON ({err}); repair it or move it away before merging") from err
        if not isinstance(current, dict):
            raise InputError(f"{path}: holds a JSON {type(current).__name__}, not an object of results by key; "
                             "move it away")
        current[key] = value
        atomic_write_text(path, json.dumps(current, indent=2, default=str) + "\n")
    finally:
        os.close(folder)  # closing releases the lock
    return current
