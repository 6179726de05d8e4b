"""Inputs → shard jobs: records are read in batches, checked, given ids and rendered, then cut into shards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.errors import InputError
from embed.readers import Chunk, Source, iter_chunks
from embed.records import RowErrors, record_ids, render_texts

__all__ = ["ShardJob", "iter_shard_jobs"]

_READ_ROWS = 8192


@dataclass
class ShardJob:
    """One shard's records: ids, what the encoder gets (texts or image paths), where each came from."""

    index: int
    ids: list[str]
    items: list[str]
    where: list[str]
    read_seconds: float


def _require_field(chunk: Chunk, field: str, option: str) -> None:
    if field not in chunk.table.column_names:
        raise InputError(f"{chunk.source.label} has no field '{field}' (named by {option}); its fields are "
                         f"{', '.join(chunk.table.column_names)}; set {option} to one of them")


def _usable_rows(chunk: Chunk, config, errors: RowErrors) -> np.ndarray:
    """Mask of records whose required field is present; the others go through the --on-error policy."""
    field, option = ((config.image_field, "--image-field") if config.image_field
                     else (config.prompt_field, "--prompt-field"))
    _require_field(chunk, field, option)
    if config.response_field != "response" and not config.image_field:
        _require_field(chunk, config.response_field, "--response-field")
    nulls = chunk.table.column(field).is_null().to_numpy(zero_copy_only=False)
    for k in np.flatnonzero(nulls):
        errors.bad(chunk.locate(int(k)), f"field '{field}' is missing or null", f"give every record a '{field}'")
    return ~nulls


def _items(table: pa.Table, source: Source, config) -> list[str]:
    if not config.image_field:
        return render_texts(table, config.template, config.prompt_field, config.response_field)
    base = source.folder or Path(".")
    paths = map(str, table.column(config.image_field).to_pylist())
    return [str(p if Path(p).is_absolute() else base / p) for p in paths]


def _prepare(chunk: Chunk, config, errors: RowErrors, seen: set[int]):
    keep = _usable_rows(chunk, config, errors)
    ids = record_ids(chunk.table, config.id_field, config.fields, locate=chunk.locate)
    for k, record_id in enumerate(ids):
        if not keep[k]:
            continue
        key = hash(record_id)
        if key in seen:
            errors.bad(chunk.locate(k), f"duplicate id '{record_id}' (an earlier record has it)",
                       "make ids unique: fix the id column, or give records distinct content when ids are "
                       "content hashes (identical prompt and response hash alike)")
            keep[k] = False
            continue
        seen.add(key)
    rows = np.flatnonzero(keep)
    table = chunk.table if len(rows) == chunk.table.num_rows else chunk.table.take(pa.array(rows))
    return [ids[k] for k in rows], _items(table, chunk.source, config), [chunk.locate(int(k)) for k in rows]


def iter_shard_jobs(config, sources: list[Source], errors: RowErrors) -> Iterator[ShardJob]:
    """Shards of exactly shard_size records (the last may be shorter), in input order."""
    ids: list[str] = []
    items: list[str] = []
    where: list[str] = []
    seen: set[int] = set()
    index, started = 0, time.perf_counter()
    for source in sources:
        before, records = errors.count, 0
        for chunk in iter_chunks(source, min(_READ_ROWS, config.shard_size), errors):
            records += chunk.table.num_rows
            new_ids, new_items, new_where = _prepare(chunk, config, errors, seen)
            ids += new_ids
            items += new_items
            where += new_where
            while len(ids) >= config.shard_size:
                cut = config.shard_size
                yield ShardJob(index, ids[:cut], items[:cut], where[:cut], time.perf_counter() - started)
                ids, items, where = ids[cut:], items[cut:], where[cut:]
                index, started = index + 1, time.perf_counter()
        if records == 0 and errors.count == before:
            raise InputError(f"input {source.label} is empty (no records); give a file with at least one record")
    if ids:
        yield ShardJob(index, ids, items, where, time.perf_counter() - started)
    elif index == 0:
        raise InputError(f"no records left to embed: all {errors.count} records were skipped as bad "
                         f"(first: {errors.examples[0] if errors.examples else '-'})")
