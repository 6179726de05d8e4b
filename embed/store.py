"""Reading an embedding folder back: whole (`read_embeddings`) or one shard at a time (`iter_embedding_shards`).

A folder is a local path, an fsspec URL ('memory://x', 's3://bucket/x', 'simplecache::s3://…') or a path in a
filesystem passed as `fs`; a local path is read without fsspec. Dask workers read their shards through the same
functions (transport/dask_shards.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curate.errors import InputError

__all__ = ["EmbeddingSet", "read_embeddings", "iter_embedding_shards", "read_manifest", "is_embedding_folder",
           "shard_paths", "read_shard_table", "shard_vectors"]


class EmbeddingSet:
    """ids [n], vectors float32 [n, d], manifest (and token_index [n] for per-token folders).

    `run()` returns one bound to its folder, reading the shards on first access, so embedding a corpus far
    larger than memory does not load it back unless the caller asks for the vectors.
    """

    def __init__(self, ids: list[str] | None = None, vectors: np.ndarray | None = None, manifest: dict | None = None,
                 token_index: np.ndarray | None = None, folder: Path | str | None = None, fs=None):
        self._ids, self._vectors, self._token_index = ids, vectors, token_index
        self.manifest = manifest or {}
        self.folder, self._fs = folder, fs

    def _load(self) -> None:
        if self._ids is None:
            loaded = read_embeddings(self.folder, self._fs)
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


def _folder(folder: str | Path, fs=None) -> str | Path:
    """A local folder as a Path (read as before, without fsspec); an fsspec URL or a path in `fs` as a string."""
    text = str(folder)
    if fs is None and (isinstance(folder, Path) or "://" not in text and "::" not in text):
        return Path(folder)
    return text


def _join(folder: str | Path, name: str) -> str | Path:
    return folder / name if isinstance(folder, Path) else f"{folder.rstrip('/')}/{name}"


def _filesystem(path: str | Path, fs=None):
    """(fsspec filesystem, path in it) for a URL or a path in `fs`; (None, path) for a local Path."""
    if fs is not None or isinstance(path, Path):
        return fs, path
    import fsspec

    return fsspec.core.url_to_fs(path)


def is_embedding_folder(folder: str | Path, fs=None) -> bool:
    """Does `folder` hold a manifest.json? An unknown protocol or an unreachable store: no."""
    try:
        fs, path = _filesystem(_join(_folder(folder, fs), "manifest.json"), fs)
        return path.is_file() if fs is None else fs.isfile(path)
    except (ImportError, ValueError, OSError):
        return False


def read_manifest(folder: str | Path, fs=None) -> dict:
    """The folder's manifest.json; InputError when there is none."""
    fs, path = _filesystem(_join(_folder(folder, fs), "manifest.json"), fs)
    if not (path.exists() if fs is None else fs.isfile(path)):
        raise InputError(f"{folder} is not an embedding folder (no manifest.json); make one with `curate embed`")
    if fs is None:
        return json.loads(path.read_text())
    with fs.open(path, "rb") as fh:
        return json.loads(fh.read().decode("utf-8"))


def shard_paths(folder: str | Path, manifest: dict, fs=None) -> list[str | Path]:
    """The file of each shard the manifest lists, in order (a Path in a local folder, else a URL or a path in
    `fs`); raises if one is not complete."""
    root = _folder(folder, fs)
    return [_shard_path(folder, root, shard) for shard in manifest.get("shards", [])]


def _shard_path(folder: str | Path, root: str | Path, shard: dict) -> str | Path:
    if not shard.get("complete"):
        raise InputError(f"{folder}: shard {shard['name']} is not complete (the run stopped early); "
                         "rerun the same `curate embed` command to finish it")
    return _join(root, shard["name"])


def read_shard_table(path: str | Path, columns: list[str] | None = None, fs=None):
    """One shard file as a pyarrow Table (only `columns`, if given)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, path = _filesystem(_folder(path, fs), fs)
    try:
        if fs is None:
            return pq.read_table(path, columns=columns)
        with fs.open(path, "rb") as fh:
            return pq.read_table(fh, columns=columns)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet shard ({err}); the file is damaged or was replaced — "
                         "re-run the `curate embed` job that wrote the folder (delete the shard first)") from err


def shard_vectors(table) -> tuple[list[str], np.ndarray]:
    """(ids, float32 vectors [rows, d]) of a shard table; d is the embedding column's list size."""
    column = table.column("embedding")
    return table.column("id").to_pylist(), _vectors(column, column.type.list_size)


def _vectors(column, dim: int) -> np.ndarray:
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


def _iter_tables(folder: str | Path, manifest: dict, columns: list[str] | None = None, fs=None):
    root = _folder(folder, fs)
    for shard in manifest.get("shards", []):  # checked one by one: the shards before an incomplete one are read
        yield read_shard_table(_shard_path(folder, root, shard), columns, fs)


def iter_embedding_shards(folder: str | Path, fs=None) -> Iterator[tuple[list[str], np.ndarray]]:
    """(ids, vectors float32 [rows, d]) for each complete shard, in order; raises if a shard is incomplete."""
    folder = _folder(folder, fs)
    manifest = read_manifest(folder, fs)
    for table in _iter_tables(folder, manifest, ["id", "embedding"], fs):
        yield table.column("id").to_pylist(), _vectors(table.column("embedding"), manifest["dim"])


def read_embeddings(folder: str | Path, fs=None) -> EmbeddingSet:
    """The whole folder in memory: ids, float32 vectors [n, d], manifest (token_index for per-token output)."""
    folder = _folder(folder, fs)
    manifest = read_manifest(folder, fs)
    dim = manifest.get("dim") or 0
    ids: list[str] = []
    parts, tokens = [], []
    for table in _iter_tables(folder, manifest, fs=fs):
        ids += table.column("id").to_pylist()
        parts.append(_vectors(table.column("embedding"), dim))
        if "token_index" in table.column_names:
            tokens.append(table.column("token_index").to_numpy())
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)
    token_index = np.concatenate(tokens) if tokens else None
    return EmbeddingSet(ids, vectors, manifest, token_index, folder, fs)
