"""Export a weighted corpus for stacks with or without per-example weights (TRL, axolotl read the files directly)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from curate.config import StageConfig, save_config
from curate.device import apply_threads
from curate.errors import ConfigError, InputError
from curate.io import atomic_folder, atomic_write_bytes, read_table, write_parquet

__all__ = ["ExportConfig", "export", "select_rows", "weighted_sampler"]


@dataclass(frozen=True)
class ExportConfig(StageConfig):
    input: Path
    """A weighted Parquet written by `curate sot-weight`."""
    out: Path
    """Output file (.jsonl / .parquet) or folder (hf)."""
    format: Literal["jsonl", "parquet", "hf"] = "jsonl"
    """jsonl, parquet, or a Hugging Face datasets folder (save_to_disk)."""
    mode: Literal["weights", "topk", "resample"] = "weights"
    """weights: every row with its sot_weight; topk: rows with keep = true; resample: a seeded multinomial sample."""
    n: int | None = None
    """Rows drawn by --mode resample (default: as many as the input has)."""

    unused_fields = ("device",)  # selects rows on the CPU
    field_help = {"seed": "Seed of the resample draw.", "overwrite": "Replace an existing output."}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n is not None and self.mode != "resample":
            raise ConfigError(f"--n is only used with --mode resample (got --mode {self.mode})")
        if self.n is not None and self.n < 1:
            raise ConfigError(f"--n must be ≥ 1 (got {self.n})")


def _read(path_or_table):
    if isinstance(path_or_table, (str, os.PathLike)):
        table = read_table(path_or_table, what="the Parquet written by `curate sot-weight`")
    else:
        table = path_or_table
    for column in ("sot_weight", "keep"):
        if column not in table.column_names:
            raise InputError(f"{path_or_table if isinstance(path_or_table, (str, os.PathLike)) else 'table'} has no "
                             f"{column!r} column; pass the Parquet written by `curate sot-weight`")
    return table


def select_rows(table, mode: str, n: int | None = None, seed: int = 0):
    """The rows an export writes: all (weights), keep = true (topk), or n seeded multinomial draws ∝ sot_weight."""
    if mode == "weights":
        return table
    if mode == "topk":
        return table.filter(table.column("keep"))
    weights = np.asarray(table.column("sot_weight").to_pylist(), dtype=np.float64)
    _check_sampling_weights(weights)
    draws = np.random.default_rng(seed).choice(len(weights), size=n or len(weights), p=weights / weights.sum())
    return table.take(np.sort(draws))


def _check_sampling_weights(weights: np.ndarray) -> None:
    """Resampling draws rows with probability ∝ sot_weight: weights must be finite, ≥ 0 and not all zero."""
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        raise InputError(f"sot_weight of row {bad[0]} is {weights[bad[0]]} ({bad.size} such rows); --mode resample "
                         "needs finite weights ≥ 0: pass the Parquet written by `curate sot-weight`")
    if weights.sum() <= 0:
        raise InputError("every sot_weight is 0, so --mode resample has nothing to draw from; "
                         "pass the Parquet written by `curate sot-weight`")


def _write(table, out: Path, fmt: str) -> None:
    if fmt == "parquet":
        write_parquet(table, out)
    elif fmt == "jsonl":
        import json

        lines = [json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist()]
        atomic_write_bytes(out, ("\n".join(lines) + "\n").encode("utf-8"))
    else:
        from datasets import Dataset

        with atomic_folder(out) as tmp:
            Dataset(table).save_to_disk(str(tmp))


def export(config: ExportConfig) -> dict:
    """Write the selected rows; returns a small summary (rows in, rows out, where)."""
    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    apply_threads(config)
    table = _read(config.input)
    selected = select_rows(table, config.mode, config.n, config.seed)
    _write(selected, out, config.format)
    summary = {"rows_in": table.num_rows, "rows_out": selected.num_rows, "out": str(out)}
    meta = out.with_name(out.name + ".export.json") if config.format == "hf" else out.with_suffix(".export.json")
    save_config(config, meta, summary=summary)
    return summary


def weighted_sampler(path_or_table, num_samples: int | None = None, seed: int | None = None):
    """A torch WeightedRandomSampler over the rows (probability ∝ sot_weight, with replacement).

    Use it as `DataLoader(dataset, sampler=weighted_sampler("weighted.parquet"))` with the dataset in file order.
    """
    import torch
    from torch.utils.data import WeightedRandomSampler

    weights = torch.tensor(_read(path_or_table).column("sot_weight").to_pylist(), dtype=torch.double)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights, num_samples or len(weights), replacement=True, generator=generator)
