"""Reading an embedding folder back: whole (`read_embeddings`) or one shard at a time (`iter_embedding_shards`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curate.errors import InputError

__all__ = ["EmbeddingSet", "read_embeddings", "iter_embedding_shards", "read_manifest"]


class EmbeddingSet:
    """ids [n], vectors float32 [n, d], manifest (and token_index [n] for per-token folders).

    `run()` returns one bound to its folder, reading the shards on first access, so embedding a corpus far
    larger than memory does not load it back unless the caller asks for the vectors.
    """

    def __init__(self, ids: list[str] | None = None, vectors: np.ndarray | None = None, manifest: dict | None = None,
                 token_index: np.ndarray | None = None, folder: Path | None = None):
        self._ids, self._vectors, self._token_index = ids, vectors, token_index
        self.manifest = manifest or {}
        self.folder = folder

    def _load(self) -> None:
        if self._ids is None:
            loaded = read_embeddings(self.folder)
            self._ids, self._vectors, self._token_index = loaded.ids, loaded.vectors, loaded.token_index

    @property
    def ids(self) -> list[str]:
        self._load()
        return self._ids

    @property
    def vectors(self) -> np.ndarray:
        self._load()
        return self._vectors

    @property
    def token_index(self) -> np.ndarray | None:
        self._load()
        return self._token_index

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"EmbeddingSet(rows={self.manifest.get('rows')}, dim={self.manifest.get('dim')}, folder={self.folder})"


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise InputError(f"{folder} is not an embedding folder (no manifest.json); make one with `curate embed`")
    return json.loads(path.read_text())


def _vectors(column, dim: int) -> np.ndarray:
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


def _iter_tables(folder: Path, manifest: dict, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    for shard in manifest.get("shards", []):
        if not shard.get("complete"):
            raise InputError(f"{folder}: shard {shard['name']} is not complete (the run stopped early); "
                             "rerun the same `curate embed` command to finish it")
        yield pq.read_table(folder / shard["name"], columns=columns)


def iter_embedding_shards(folder: str | Path) -> Iterator[tuple[list[str], np.ndarray]]:
    """(ids, vectors float32 [rows, d]) for each complete shard, in order; raises if a shard is incomplete."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    for table in _iter_tables(folder, manifest, ["id", "embedding"]):
        yield table.column("id").to_pylist(), _vectors(table.column("embedding"), manifest["dim"])


def read_embeddings(folder: str | Path) -> EmbeddingSet:
    """The whole folder in memory: ids, float32 vectors [n, d], manifest (token_index for per-token output)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    dim = manifest.get("dim") or 0
    ids: list[str] = []
    parts, tokens = [], []
    for table in _iter_tables(folder, manifest):
        ids += table.column("id").to_pylist()
        parts.append(_vectors(table.column("embedding"), dim))
        if "token_index" in table.column_names:
            tokens.append(table.column("token_index").to_numpy())
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)
    token_index = np.concatenate(tokens) if tokens else None
    return EmbeddingSet(ids, vectors, manifest, token_index, folder)
