"""Shard writer: a whole Parquet shard goes to a temporary name, is flushed to disk, then renamed (curate.io)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.io import write_parquet

__all__ = ["shard_name", "write_shard", "embedding_table"]

_STORAGE = {"float32": (np.float32, pa.float32()), "float16": (np.float16, pa.float16())}


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def embedding_table(ids: list[str], vectors: np.ndarray, dtype: str = "float32",
                    token_index: np.ndarray | None = None) -> pa.Table:
    """`id: string`, optional `token_index: int32`, `embedding: fixed_size_list<dtype>[d]`."""
    np_type, arrow_type = _STORAGE[dtype]
    n, dim = vectors.shape
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np_type).reshape(-1), type=arrow_type)
    columns = {"id": pa.array(ids, type=pa.string())}
    if token_index is not None:
        columns["token_index"] = pa.array(np.asarray(token_index, dtype=np.int32), type=pa.int32())
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table(columns)


def write_shard(out: Path, index: int, ids: list[str], vectors: np.ndarray, dtype: str = "float32",
                token_index: np.ndarray | None = None) -> int:
    """Write `out/part-<index>.parquet` so that it either exists complete or not at all; returns bytes written."""
    final = Path(out) / shard_name(index)
    table = embedding_table(ids, vectors, dtype, token_index)
    # embeddings are incompressible floats: skip compression (CPU) but keep ids snappy
    write_parquet(table, final, compression={"id": "snappy", "token_index": "snappy", "embedding": "none"},
                  use_dictionary=False)
    return final.stat().st_size
