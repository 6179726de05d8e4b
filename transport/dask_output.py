"""The weighted Parquet of a sharded solve, written by streaming so that the driver never holds the corpus.

The input is read again chunk by chunk (the readers of `curate embed`), each chunk's ids are matched in order with
the embedded rows, which the workers hand over one shard's ids at a time, and the matched good rows are written
with their slice of the per-row columns. For an embedding folder the ids themselves are the rows. The file is
written to a temporary name and renamed when complete (curate.io.atomic_open).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.errors import InputError

__all__ = ["WrittenRows", "write_weighted"]

_CHUNK_ROWS = 65_536  # as embed.readers.open_input reads


@dataclass
class WrittenRows:
    """What the writer saw: rows written, input rows with no embedding (skipped by the embed stage), the written
    rows' is_harmful labels (None without that column)."""

    rows: int
    unembedded: int
    labels: np.ndarray | None


class _EmbeddedRows:
    """The corpus's embedded rows in order — (id, good, position in the per-row columns) — one shard at a time."""

    def __init__(self, corpus):
        self.corpus, self.next_shard, self.offset = corpus, 0, 0
        self.ids: list[str] = []
        self.good, self.position, self.at = np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64), 0

    def _fill(self, need: int) -> None:
        while len(self.ids) - self.at < need and self.next_shard < len(self.corpus.shards):
            ids, good = self.corpus.shard_ids(self.corpus.shards[self.next_shard]["index"])
            self.next_shard += 1
            position = self.offset + np.cumsum(good) - 1
            self.offset += int(good.sum())
            self.ids = self.ids[self.at :] + list(ids)
            self.good = np.concatenate([self.good[self.at :], good])
            self.position = np.concatenate([self.position[self.at :], position])
            self.at = 0

    def match(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """(mask over `ids` of rows embedded with a good vector, their positions in the per-row columns, how many
        of `ids` were embedded at all)."""
        self._fill(len(ids))
        end = self.at + len(ids)
        if self.ids[self.at : end] == ids:  # every input row was embedded: the common case
            good, position = self.good[self.at : end], self.position[self.at : end]
            self.at = end
            return good, position[good], len(ids)
        take, positions, embedded = np.zeros(len(ids), dtype=bool), [], 0
        for k, record_id in enumerate(ids):  # rows the embed stage skipped (--on-error skip) are not in the shards
            self._fill(1)
            if self.at < len(self.ids) and self.ids[self.at] == record_id:
                embedded += 1
                if self.good[self.at]:
                    take[k] = True
                    positions.append(self.position[self.at])
                self.at += 1
        return take, np.asarray(positions, dtype=np.int64), embedded

    def remaining(self) -> int:
        return len(self.ids) - self.at + sum(s["rows"] for s in self.corpus.shards[self.next_shard :])


def _input_tables(spec: str) -> Iterator:
    from embed.readers import expand_inputs, iter_chunks
    from embed.records import RowErrors

    errors = RowErrors("fail")
    for source in expand_inputs(spec):
        for chunk in iter_chunks(source, _CHUNK_ROWS, errors):
            yield chunk.table


def _conform(table, schema):
    """`table` with exactly `schema`'s columns and types (absent columns as nulls), as a permissive concat makes."""
    import pyarrow as pa

    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _with_columns(table, columns: dict[str, np.ndarray], rows: np.ndarray):
    import pyarrow as pa

    table = table.drop_columns([name for name in columns if name in table.column_names])
    for name, values in columns.items():
        table = table.append_column(name, pa.array(values[rows]))
    return table


def _pieces_from_table(spec: str, corpus, id_field: str | None, columns: dict, counts: dict) -> Iterator:
    import pyarrow as pa

    from embed.records import record_ids

    schema = pa.unify_schemas([t.schema for t in _input_tables(spec)], promote_options="permissive")
    embedded = _EmbeddedRows(corpus)
    for table in _input_tables(spec):
        table = _conform(table, schema)
        take, positions, matched = embedded.match(record_ids(table, id_field, fields=("prompt", "response")))
        counts["unembedded"] += table.num_rows - matched
        yield _with_columns(table.filter(pa.array(take)), columns, positions)
    if embedded.remaining():
        raise InputError(f"{spec}: {embedded.remaining()} embedded rows were not found in the input, in order; the "
                         "embedding cache does not belong to this input. Remove the cache folder "
                         "(--embeddings-cache) or rerun after `curate embed` on the same file")


def _pieces_from_folder(corpus, columns: dict) -> Iterator:
    import pyarrow as pa

    offset = 0
    for shard in corpus.shards:
        ids, good = corpus.shard_ids(shard["index"])
        rows = np.arange(offset, offset + int(good.sum()))
        offset += len(rows)
        yield _with_columns(pa.table({"id": pa.array([i for i, ok in zip(ids, good) if ok], type=pa.string())}),
                            columns, rows)


def write_weighted(out: Path, corpus, table_spec: str | None, id_field: str | None,
                   columns: dict[str, np.ndarray]) -> WrittenRows:
    """Write OUT.parquet: the input rows of `table_spec` (or the ids of an embedding-folder corpus) that have a good
    vector, in input order, with `columns` ([n] arrays over the corpus's good rows in shard order) appended."""
    import pyarrow.parquet as pq

    from curate.io import atomic_open

    counts = {"unembedded": 0}
    pieces = (_pieces_from_folder(corpus, columns) if table_spec is None
              else _pieces_from_table(table_spec, corpus, id_field, columns, counts))
    rows, labels, writer = 0, [], None
    with atomic_open(out) as fh:
        for piece in pieces:
            writer = writer or pq.ParquetWriter(fh, piece.schema)
            writer.write_table(piece)
            rows += piece.num_rows
            if "is_harmful" in piece.column_names:
                labels.append(np.asarray(piece.column("is_harmful").to_pylist(), dtype=bool))
        if writer is not None:
            writer.close()
    return WrittenRows(rows, counts["unembedded"], np.concatenate(labels) if labels else None)
