"""`manifest.json`: what an embedding folder holds, which shards are complete, and how long each took.

The manifest is rewritten atomically after every shard; a shard is listed `complete: true` only after its file
has been renamed into place, so the manifest is the done-marker, written last.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

from curate.errors import InputError
from curate.io import atomic_write_text

__all__ = ["Manifest", "IDENTITY_KEYS", "FORMAT_VERSION"]

FORMAT_VERSION = 1
# Keys that must match for a rerun to continue an existing folder.
IDENTITY_KEYS = ("model", "model_fingerprint", "encoder", "pooling", "layer", "dtype", "normalized",
                 "input_fingerprint", "settings")


class Manifest:
    """The manifest of one output folder, owned by the process that runs the job."""

    def __init__(self, out: Path, header: dict):
        self.out, self.path = Path(out), Path(out) / "manifest.json"
        self.data = {"format_version": FORMAT_VERSION, **header, "dim": None, "rows": 0, "records": 0,
                     "complete": False, "skipped": {"count": 0, "examples": []}, "shards": []}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, out: Path, header: dict, overwrite: bool = False) -> Manifest:
        """Start a folder, or continue one written with identical settings (refusing any other)."""
        manifest = cls(out, header)
        if manifest.path.exists():
            old = json.loads(manifest.path.read_text())
            differences = [f"{key} {old.get(key)!r} (now {header.get(key)!r})"
                           for key in IDENTITY_KEYS if old.get(key) != header.get(key)]
            if differences and not overwrite:
                raise InputError(f"--out {out} already holds embeddings made differently: "
                                 f"{'; '.join(differences)}. Use another --out, or --overwrite to replace them")
            if differences:
                manifest.clear()
            else:
                manifest.data.update({k: old[k] for k in ("dim", "shards") if k in old})
        elif manifest.out.exists() and any(manifest.out.glob("part-*.parquet")):
            if not overwrite:
                raise InputError(f"--out {out} holds part-*.parquet files but no manifest.json; "
                                 "use another --out, or --overwrite to replace them")
            manifest.clear()
        manifest.out.mkdir(parents=True, exist_ok=True)
        for temp in manifest.out.glob(".part-*.tmp-*"):  # left by a killed run; never read
            temp.unlink(missing_ok=True)
        return manifest

    def clear(self) -> None:
        """Remove what an earlier run wrote here (shards, temporaries, manifest) and nothing else."""
        for pattern in ("part-*.parquet", ".part-*.tmp-*", "manifest.json", "embed_config.json"):
            for path in self.out.glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def completed(self, index: int, rows: int | None = None) -> bool:
        """Is shard `index` listed complete with its file present (and, if given, with `rows` records)?"""
        entry = next((s for s in self.data["shards"] if s["index"] == index), None)
        if not entry or not entry.get("complete") or not (self.out / entry["name"]).exists():
            return False
        return rows is None or entry["records"] == rows

    def check_dim(self, dim: int) -> None:
        if self.data["dim"] not in (None, dim):
            raise InputError(f"--out {self.out} holds {self.data['dim']}-d embeddings but this run makes {dim}-d "
                             "ones; use another --out, or --overwrite")

    def begin(self, index: int, name: str) -> None:
        """List a shard as in progress, so a reader never mistakes a half-done folder for a finished one."""
        with self._lock:
            self._set({"index": index, "name": name, "complete": False})

    def complete(self, entry: dict, dim: int) -> None:
        with self._lock:
            self.check_dim(dim)
            self.data["dim"] = dim
            self._set({**entry, "complete": True})

    def finish(self, skipped: dict, seconds: float) -> None:
        with self._lock:
            shards = self.data["shards"]
            self.data.update(rows=sum(s.get("rows", 0) for s in shards),
                             records=sum(s.get("records", 0) for s in shards), skipped=skipped,
                             complete=all(s.get("complete") for s in shards), seconds=round(seconds, 3),
                             finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self._save()

    def _set(self, entry: dict) -> None:
        shards = [s for s in self.data["shards"] if s["index"] != entry["index"]] + [entry]
        self.data["shards"] = sorted(shards, key=lambda s: s["index"])
        self._save()

    def _save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")
