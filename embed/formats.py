"""One streaming reader per input format; each yields (table of <= batch_rows records, their line/row numbers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from curate.errors import InputError
from embed.records import RowErrors

Batches = Iterator[tuple[pa.Table, list[int]]]


def _rows_to_table(rows: list[dict], lines: list[int], label: str) -> pa.Table:
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(f"{label} lines {lines[0]}-{lines[-1]}: a field changes type between records ({err}); "
                         "give each field one JSON type (e.g. quote numeric ids)") from err


def read_jsonl(source, batch_rows: int, errors: RowErrors) -> Batches:
    """JSON Lines, parsed line by line so a bad line is reported (or skipped) by its number."""
    rows, lines = [], []
    with open(source.path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            where = f"{source.label} line {number}"
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                errors.bad(where, f"bytes are not valid UTF-8 (byte {err.start + 1}: {raw[err.start:err.start + 1]!r})",
                           "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
                continue
            except json.JSONDecodeError as err:
                errors.bad(where, f"malformed JSON ({err.msg} at column {err.colno})", "fix that line")
                continue
            if not isinstance(record, dict):
                errors.bad(where, f"is a JSON {type(record).__name__}, not an object", "write one {...} per line")
                continue
            rows.append(record)
            lines.append(number)
            if len(rows) == batch_rows:
                yield _rows_to_table(rows, lines, source.label), lines
                rows, lines = [], []
    if rows:
        yield _rows_to_table(rows, lines, source.label), lines


def read_json(source, batch_rows: int, errors: RowErrors) -> Batches:
    """A .json file: a JSON array of objects (read whole), or JSON Lines under a .json name."""
    with open(source.path, "rb") as fh:
        head = fh.read(4096).lstrip()
    if not head.startswith(b"["):
        yield from read_jsonl(source, batch_rows, errors)
        return
    try:
        records = json.loads(Path(source.path).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{source.label}: not valid UTF-8 JSON ({err}); fix the file or convert it to JSONL") from err
    for start in range(0, len(records), batch_rows):
        part = records[start:start + batch_rows]
        where = list(range(start + 1, start + len(part) + 1))
        bad = [k for k, r in enumerate(part) if not isinstance(r, dict)]
        if bad:
            raise InputError(f"{source.label} element {where[bad[0]]}: not a JSON object; give an array of objects")
        yield _rows_to_table(part, where, source.label), where


def read_parquet(source, batch_rows: int, errors: RowErrors) -> Batches:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(source.path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{source.label}: not a readable Parquet file ({err})") from err
    start = 0
    for batch in file.iter_batches(batch_size=batch_rows):
        yield pa.Table.from_batches([batch]), list(range(start + 1, start + batch.num_rows + 1))
        start += batch.num_rows


def _first_bad_utf8_line(path: str) -> int:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_csv(source, batch_rows: int, errors: RowErrors) -> Batches:
    """CSV with a header row; every column is read as a string (no type guessing between blocks)."""
    import csv

    import pyarrow.csv as pcsv

    with open(source.path, encoding="utf-8", errors="replace", newline="") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        return
    convert = pcsv.ConvertOptions(column_types={name: pa.string() for name in header})
    start = 0
    try:
        reader = pcsv.open_csv(source.path, convert_options=convert,
                               read_options=pcsv.ReadOptions(block_size=1 << 22))
        for batch in reader:
            for offset in range(0, batch.num_rows, batch_rows):
                part = batch.slice(offset, batch_rows)
                yield pa.Table.from_batches([part]), list(range(start + 1, start + part.num_rows + 1))
                start += part.num_rows
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err) or "utf8" in str(err).lower():
            line = _first_bad_utf8_line(source.path)
            raise InputError(f"{source.label} line {line}: bytes are not valid UTF-8; re-encode the file as "
                             "UTF-8 (e.g. iconv -f latin1 -t utf-8)") from err
        raise InputError(f"{source.label}: malformed CSV after data row {start} ({err}); fix the file") from err


def read_hf_folder(source, batch_rows: int, errors: RowErrors) -> Batches:
    """A `Dataset.save_to_disk` folder: Arrow IPC stream files listed in state.json."""
    folder = Path(source.path)
    state = json.loads((folder / "state.json").read_text())
    files = [folder / item["filename"] for item in state.get("_data_files", [])] or sorted(folder.glob("*.arrow"))
    start = 0
    for file in files:
        with pa.memory_map(str(file)) as mm:
            for batch in pa.ipc.open_stream(mm):
                for offset in range(0, batch.num_rows, batch_rows):
                    part = batch.slice(offset, batch_rows)
                    yield pa.Table.from_batches([part]), list(range(start + 1, start + part.num_rows + 1))
                    start += part.num_rows


@lru_cache(maxsize=8)
def _registry_table_cached(name: str, split: str) -> pa.Table:
    from curate.datasets import load_dataset_table

    return load_dataset_table(name, split)


def registry_table(source) -> pa.Table:
    name, split = source.path.split(":", 1)
    try:
        return _registry_table_cached(name, split)
    except KeyError as err:
        raise InputError(f"{source.label}: unknown dataset '{name}'; see `curate datasets list`") from err


def read_registry(source, batch_rows: int, errors: RowErrors) -> Batches:
    table = registry_table(source)
    for start in range(0, table.num_rows, batch_rows):
        part = table.slice(start, batch_rows)
        yield part, list(range(start + 1, start + part.num_rows + 1))
