"""Input readers: JSONL, Parquet, CSV, HF save_to_disk folders, globs and `registry:NAME[:SPLIT]`, in record batches.

Every reader yields `Chunk`s of at most `batch_rows` records, so memory stays flat however long the corpus is;
`open_input` is the one place that materialises a whole input.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curate.errors import InputError
from embed.records import RowErrors

__all__ = ["Chunk", "Source", "expand_inputs", "iter_chunks", "open_input", "input_fingerprint", "estimate_rows"]

_TABLE_SUFFIXES = {".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".csv"}


@dataclass(frozen=True)
class Source:
    """One concrete input: a file, an HF save_to_disk folder, or a registry dataset."""

    kind: str  # jsonl | json | parquet | csv | hf | registry
    path: str  # file/folder path, or "NAME:SPLIT" for the registry
    label: str  # how error messages name it

    @property
    def unit(self) -> str:
        return "line" if self.kind == "jsonl" else "row"

    @property
    def folder(self) -> Path | None:
        """Where relative paths inside records (images) are resolved from."""
        return None if self.kind == "registry" else Path(self.path).parent


@dataclass
class Chunk:
    """Up to batch_rows records of one source; `where[k]` is the 1-based line/row number of record k."""

    table: pa.Table
    source: Source
    where: list[int]

    def locate(self, k: int) -> str:
        return f"{self.source.label} {self.source.unit} {self.where[k]}"


def _file_source(path: Path, spec: str) -> Source:
    if path.is_dir():
        if (path / "state.json").exists():
            return Source("hf", str(path), str(path))
        if (path / "dataset_dict.json").exists():
            splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
            raise InputError(f"input '{spec}' is a Hugging Face DatasetDict with splits {splits}; "
                             f"give one split folder, e.g. {path / (splits[0] if splits else 'train')}")
        raise InputError(f"input '{spec}' is a folder without state.json; give its files or a glob "
                         f"such as '{path}/*.parquet'")
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise InputError(f"input '{spec}': unsupported file type '{suffix or path.name}'; "
                         "use .jsonl, .json, .parquet, .csv, a save_to_disk folder or registry:NAME")
    kind = {".ndjson": "jsonl", ".pq": "parquet"}.get(suffix, suffix[1:])
    return Source(kind, str(path), str(path))


def expand_inputs(spec: str) -> list[Source]:
    """One input spec → its sources, in order (a glob expands sorted)."""
    if spec.startswith("registry:"):
        _, name, *rest = spec.split(":")
        split = rest[0] if rest else "all"
        return [Source("registry", f"{name}:{split}", spec)]
    if any(ch in spec for ch in "*?["):
        matches = sorted(glob.glob(spec))
        if not matches:
            raise InputError(f"input glob '{spec}' matches no files; check the pattern and quote it in the shell")
        return [_file_source(Path(m), m) for m in matches]
    path = Path(spec).expanduser()
    if not path.exists():
        raise InputError(f"input '{spec}' does not exist; give a file, folder, glob or registry:NAME[:SPLIT] "
                         "(see `curate datasets list`)")
    return [_file_source(path, spec)]


def iter_chunks(source: Source, batch_rows: int, errors: RowErrors) -> Iterator[Chunk]:
    """The records of one source, in order, in chunks of at most batch_rows."""
    from embed import formats as _formats

    reader = {"jsonl": _formats.read_jsonl, "json": _formats.read_json, "parquet": _formats.read_parquet,
              "csv": _formats.read_csv, "hf": _formats.read_hf_folder, "registry": _formats.read_registry}[source.kind]
    try:
        for table, where in reader(source, batch_rows, errors):
            if table.num_rows:
                yield Chunk(table, source, where)
    except (pa.ArrowException, OSError) as err:  # a file that breaks part-way (corrupt Parquet pages, I/O errors)
        reason = " ".join(str(err).split()) or type(err).__name__
        raise InputError(f"{source.label}: not a readable {source.kind} input ({reason}); the file is truncated "
                         "or corrupt - rewrite it or pass another file") from err


def open_input(spec: str) -> pa.Table:
    """Read one input spec fully into a table (the streaming path is `iter_chunks`)."""
    errors = RowErrors("fail")
    tables = [chunk.table for source in expand_inputs(spec) for chunk in iter_chunks(source, 65_536, errors)]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


def estimate_rows(source: Source) -> int | None:
    """Rows in a source without parsing it (JSONL: newline count), for the progress bar; None if unknown."""
    import pyarrow.parquet as pq

    if source.kind == "registry":
        from embed.formats import registry_table

        return registry_table(source).num_rows
    if source.kind == "parquet":
        try:
            return pq.ParquetFile(source.path).metadata.num_rows
        except (pa.ArrowException, OSError):  # unreadable: the reader reports it with the file's name
            return None
    if source.kind in ("jsonl", "csv"):
        count = 0
        with open(source.path, "rb") as fh:
            while block := fh.read(1 << 22):
                count += block.count(b"\n")
        return max(count - (source.kind == "csv"), 0)
    return None


def input_fingerprint(sources: list[Source]) -> str:
    """A content hash of all inputs: files by their bytes, registry datasets by their ids."""
    digest = hashlib.blake2b(digest_size=16)
    for source in sources:
        digest.update(f"{source.kind}|{Path(source.path).name if source.kind != 'registry' else source.path}|".encode())
        if source.kind == "registry":
            from embed.formats import registry_table

            table = registry_table(source)
            digest.update(str(table.num_rows).encode())
            if "id" in table.column_names:
                for value in table.column("id").to_pylist():
                    digest.update(f"{value}\x00".encode())
            continue
        files = sorted(Path(source.path).glob("*.arrow")) if source.kind == "hf" else [Path(source.path)]
        for file in files:
            with open(file, "rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
    return digest.hexdigest()
