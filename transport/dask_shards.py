"""Where a Dask worker finds its rows: embedding shards named by a path or an fsspec URL that every worker can
open (read on the worker, never on the driver), or an in-memory array for small problems and tests.

Manifests and shard files are read by embed.store (local paths and fsspec URLs alike); this module adds the Dask
side: shards as picklable sources, part alignment, and an error that says every worker must see the folder.
Rows are cleaned as the local pipeline cleans them: feature parts made from a table are unit-normalised and
concatenated (transport._features), then NaN/inf/all-zero rows are failed or skipped and the rest normalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.errors import InputError
from embed.store import read_manifest, read_shard_table, shard_paths, shard_vectors

__all__ = ["ShardSource", "ShardRows", "embedding_shards", "array_shards", "read_shard", "read_ids"]


@dataclass(frozen=True)
class ShardSource:
    """One shard: its part files (one per feature part, all with the same rows) or an in-memory array [rows, d]."""

    index: int
    rows: int
    parts: tuple[str, ...] = ()
    unit_parts: bool = False
    """Normalise each part before concatenating (parts embedded from a table, as load_features does)."""
    array: np.ndarray | None = None
    ids: tuple[str, ...] | None = None


@dataclass
class ShardRows:
    """A shard's rows after cleaning: good-row mask over the rows read, unit vectors of the good rows, and the first
    few ids of bad rows."""

    good: np.ndarray
    vectors: np.ndarray
    bad_ids: list[str]


def embedding_shards(folders: list[str], unit_parts: bool = False) -> list[ShardSource]:
    """One source per shard of the folders (several folders = feature parts, shard k of each holds the same rows)."""
    manifests = [read_manifest(f) for f in folders]
    paths = [shard_paths(f, m) for f, m in zip(folders, manifests)]  # raises on a shard that is not complete
    if len({len(p) for p in paths}) > 1:
        raise InputError(f"the feature folders {folders} hold different shard counts "
                         f"({[len(p) for p in paths]}); re-embed them with the same --shard-size")
    listed = [m.get("shards", []) for m in manifests]
    return [ShardSource(k, int(shards[0].get("rows", 0)), tuple(str(p) for p in parts), unit_parts)
            for k, (shards, parts) in enumerate(zip(zip(*listed), zip(*paths)))]


def array_shards(x: np.ndarray, rows: int = 50_000) -> list[ShardSource]:
    """In-memory rows [n, d] (already unit and clean) cut into sources of `rows` rows."""
    return [ShardSource(k, len(x[start : start + rows]), array=x[start : start + rows])
            for k, start in enumerate(range(0, len(x), rows))]


def _read_table(url: str, columns: list[str]):
    import pyarrow as pa

    try:
        return read_shard_table(url, columns)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{url}: cannot read this embedding shard ({type(err).__name__}: {err}); every worker must "
                         "see the embedding folder at the same path or URL (a shared disk or an object store), "
                         "and the shard must be whole (rerun `curate embed` on the folder)") from err


def _read_part(url: str) -> tuple[list[str], np.ndarray]:
    return shard_vectors(_read_table(url, ["id", "embedding"]))


def _aligned(ids: list[str], other_ids: list[str], vectors: np.ndarray) -> np.ndarray:
    """`vectors` (rows named other_ids) in the order of `ids`; a row the other part lacks becomes NaN."""
    if other_ids == ids:
        return vectors
    where = {i: k for k, i in enumerate(other_ids)}
    out = np.full((len(ids), vectors.shape[1]), np.nan, dtype=np.float32)
    for row, i in enumerate(ids):
        if i in where:
            out[row] = vectors[where[i]]
    return out


def _parts(source: ShardSource) -> tuple[list[str], np.ndarray]:
    ids, first = _read_part(source.parts[0])
    parts = [first]
    for url in source.parts[1:]:
        other_ids, vectors = _read_part(url)
        parts.append(_aligned(ids, other_ids, vectors))
    if source.unit_parts:
        parts = [p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-30) for p in parts]
    return ids, np.concatenate(parts, axis=1)


def read_ids(source: ShardSource) -> list[str]:
    """The ids of a shard's rows (of its first part: the other parts are aligned to it)."""
    if source.array is not None:
        return list(source.ids or ())
    return _read_table(source.parts[0], ["id"]).column("id").to_pylist()


def read_shard(source: ShardSource) -> ShardRows:
    """Read and clean one shard (on the worker); bad rows are counted here and failed or skipped by the driver."""
    if source.array is not None:
        return ShardRows(np.ones(len(source.array), dtype=bool), source.array, [])
    ids, x = _parts(source)
    norms = np.linalg.norm(x, axis=1)
    good = np.isfinite(x).all(axis=1) & (norms > 0)
    bad = [ids[i] for i in np.flatnonzero(~good)[:5]]
    vectors = np.ascontiguousarray(x[good] / norms[good, None], dtype=np.float32)
    return ShardRows(good, vectors, bad)
