"""What a path holds: which pipeline output (by the files and columns each stage writes), and how to read its rows.

| kind       | written by                      | recognised by                                              |
|------------|---------------------------------|------------------------------------------------------------|
| corpus     | sot-weight, export              | a Parquet, JSONL or hf folder with a `sot_weight` column   |
| export     | export (no sot_weight column)   | a file or hf folder that `curate export` wrote             |
| judged     | judge                           | a Parquet with a `verdict` column                          |
| embeddings | embed                           | a folder with a manifest.json listing `shards`             |
| dictionary | build-dictionary                | a folder with concepts.parquet and manifest.json           |
| evaluation | eval                            | a folder with summary.json                                 |
| trainer    | train sft / cast / mosaic / sae | a folder with metrics.json                                 |

A folder that is none of these is searched (two levels deep) for outputs that are, as `curate run` leaves them.
"""

from __future__ import annotations

import json
from pathlib import Path

from curate.errors import InputError
from curate.io import read_json, read_table

__all__ = ["KINDS", "detect_kind", "find_outputs", "read_rows", "first_json_row", "export_meta"]

KINDS = ("corpus", "export", "judged", "embeddings", "dictionary", "evaluation", "trainer")
EXPORT_MARKER = "curate_export.json"
"""The file `curate export` writes into an hf folder."""


def first_json_row(path: Path) -> dict:
    """The first record of a JSON Lines file ({} when it has none or is not JSON Lines)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return {}
                return row if isinstance(row, dict) else {}
    return {}


def export_meta(path: Path) -> Path:
    """The OUT.export.json `curate export` writes beside a file (or an hf folder) it exported."""
    path = Path(path)
    return path.with_name(path.name + ".export.json") if path.is_dir() else path.with_suffix(".export.json")


def _file_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".jsonl", ".json") and export_meta(path).is_file():
        return "corpus" if "sot_weight" in _columns(path) else "export"
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowException):  # an unreadable Parquet is not an output the report can show
            return None
        return "corpus" if "sot_weight" in names else "judged" if "verdict" in names else None
    if suffix in (".jsonl", ".json") and not path.name.endswith((".export.json", ".stage.json")):
        return "corpus" if "sot_weight" in first_json_row(path) else None
    return None


def _hf_columns(path: Path) -> list[str]:
    """Column names of a datasets save_to_disk folder, from its dataset_info.json (no data read)."""
    info = path / "dataset_info.json"
    try:
        return list((read_json(info).get("features") or {})) if info.is_file() else []
    except InputError:
        return []


def _folder_kind(path: Path) -> str | None:
    if (path / "concepts.parquet").is_file() and (path / "manifest.json").is_file():
        return "dictionary"
    if (path / "summary.json").is_file():
        return "evaluation"
    if (path / "metrics.json").is_file():
        return "trainer"
    if (path / EXPORT_MARKER).is_file():
        return "corpus" if "sot_weight" in _hf_columns(path) else "export"
    manifest = path / "manifest.json"
    if manifest.is_file():
        try:
            return "embeddings" if "shards" in read_json(manifest) else None
        except InputError:
            return None
    return None


def _columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path).names
    return list(first_json_row(path))


def detect_kind(path: str | Path) -> str | None:
    """The kind of pipeline output at `path` (one of KINDS), or None."""
    path = Path(path)
    if path.is_dir():
        return _folder_kind(path)
    return _file_kind(path) if path.is_file() else None


def find_outputs(path: str | Path, depth: int = 2) -> list[tuple[str, Path]]:
    """[(kind, path)]: `path` itself when it is an output, else the outputs inside it, in name order."""
    path = Path(path)
    kind = detect_kind(path)
    if kind is not None:
        return [(kind, path)]
    if not path.is_dir() or depth == 0:
        return []
    found = []
    for child in sorted(path.iterdir()):
        if child.name.startswith((".", "_")) or child.suffix == ".html":
            continue
        found += find_outputs(child, depth - 1)
    return found


def read_rows(path: Path, columns: list[str] | None = None):
    """The rows of a corpus output as a pyarrow.Table: a Parquet file, a JSON Lines file, or an hf folder."""
    import pyarrow as pa

    path = Path(path)
    if path.is_dir():
        from datasets import load_from_disk

        table = load_from_disk(str(path)).data.table
    elif path.suffix.lower() == ".parquet":
        return read_table(path, columns=columns, what="a Parquet written by `curate sot-weight` or `curate export`")
    else:
        import pyarrow.json as pj

        try:
            table = pj.read_json(path)
        except pa.ArrowInvalid as err:
            raise InputError(f"{path}: not a JSON Lines file the report can read ({err}); give the file "
                             "`curate export` wrote") from err
    return table.select([c for c in columns if c in table.column_names]) if columns else table
