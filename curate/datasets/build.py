"""`curate datasets build`: one named dataset written as Parquet with licence notices (metadata + sidecar)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.config import StageConfig
from curate.errors import ConfigError

__all__ = ["DatasetBuildConfig", "run", "build_dataset"]


@dataclass(frozen=True)
class DatasetBuildConfig(StageConfig):
    name: str
    """Registry dataset name (see `curate datasets list`)."""
    out: Path
    """Output Parquet file; licence notices go into its schema metadata and OUT.licences.json."""
    split: Literal["train", "heldout", "all"] = "all"
    """Which split to write."""

    unused_fields = ("device", "seed")  # copies stored rows: no model, no randomness
    field_help = {"overwrite": "Replace an existing output file."}

    def __post_init__(self) -> None:
        super().__post_init__()
        from curate.datasets._registry import DATASETS

        object.__setattr__(self, "out", Path(self.out))
        if self.name not in DATASETS:
            raise ConfigError(f"--name/NAME '{self.name}' is not a dataset; valid names: {', '.join(DATASETS)}")
        if self.split not in ("train", "heldout", "all"):
            raise ConfigError(f"--split '{self.split}' is invalid; use train, heldout or all")
        if self.out.suffix != ".parquet":
            raise ConfigError(f"--out '{self.out}' must end in .parquet")
        if self.out.exists() and not self.overwrite:
            raise ConfigError(f"--out '{self.out}' exists; pass --overwrite to replace it")


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.stem + ".licences.json")


def run(config: DatasetBuildConfig) -> Path:
    """Write the dataset atomically, then its sidecar (licences, row count, resolved config)."""
    from curate.config import config_to_dict
    from curate.datasets._store import load_dataset_table
    from curate.device import apply_threads
    from curate.io import atomic_write_text, check_output, write_parquet

    check_output(config.out, "file")
    apply_threads(config)
    table = load_dataset_table(config.name, config.split)
    write_parquet(table, config.out)
    meta = table.schema.metadata or {}
    sidecar = {
        "dataset": config.name,
        "split": config.split,
        "rows": table.num_rows,
        "version": meta.get(b"safecurate.version", b"").decode(),
        "licences": json.loads(meta.get(b"safecurate.licences", b"[]")),
        "config": config_to_dict(config),
    }
    atomic_write_text(sidecar_path(config.out), json.dumps(sidecar, indent=2) + "\n")
    return config.out


def build_dataset(name: str, out: str | Path, split: str = "all", overwrite: bool = False) -> Path:
    """Python entry point of `curate datasets build`."""
    return run(DatasetBuildConfig(name=name, out=Path(out), split=split, overwrite=overwrite))
