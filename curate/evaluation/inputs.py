"""Reading prompt/training tables from any input spec (files or `registry:NAME[:SPLIT]`)."""

from __future__ import annotations

from pathlib import Path

from curate.errors import InputError

__all__ = ["read_table", "require_columns"]


def read_table(spec: str | Path):
    """One input spec as a pyarrow.Table; uses `embed.open_input` (THE reader) when it is installed."""
    try:
        from embed import open_input
    except ImportError:
        return _fallback_read(str(spec))
    return open_input(str(spec))


def _fallback_read(spec: str):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    if spec.startswith("registry:"):
        from curate.datasets import load_dataset_table

        _, name, *split = spec.split(":")
        return load_dataset_table(name, split[0] if split else "all")
    path = Path(spec)
    if not path.exists():
        raise InputError(f"input '{spec}' does not exist (expected a file, a folder or registry:NAME[:SPLIT])")
    if path.is_dir():
        return pa.concat_tables([pq.read_table(p) for p in sorted(path.glob("*.parquet"))])
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix in {".jsonl", ".json"}:
        return pjson.read_json(path)
    if path.suffix == ".csv":
        return pcsv.read_csv(path)
    raise InputError(f"input '{spec}': unsupported file type '{path.suffix}' (use .parquet, .jsonl or .csv)")


def require_columns(table, columns: dict[str, str], spec: str) -> None:
    """Raise an InputError naming the missing column, the option that names it, and the columns present."""
    for column, option in columns.items():
        if column not in table.column_names:
            raise InputError(
                f"input '{spec}' has no column '{column}' (set by {option}); "
                f"its columns are: {', '.join(table.column_names)}"
            )
