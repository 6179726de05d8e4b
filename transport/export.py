"""Export a weighted corpus for stacks with or without per-example weights (TRL, axolotl read the files directly)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from curate.config import StageConfig, save_config
from curate.device import apply_threads
from curate.errors import ConfigError, InputError
from curate.io import atomic_folder, atomic_write_bytes, check_output, read_table, write_parquet
from transport.schema import apply_schema

__all__ = ["ExportConfig", "export", "export_format", "select_rows", "weighted_sampler", "EXPORT_MARKER"]


FORMAT_OF_SUFFIX = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}
"""The format an --out extension means; an --out without one is a Hugging Face datasets folder (hf)."""
EXPORT_MARKER = "curate_export.json"
"""Written into every hf export folder: the files the export wrote, so --overwrite replaces only those."""


@dataclass(frozen=True)
class ExportConfig(StageConfig):
    input: Path
    """A weighted Parquet written by `curate sot-weight`."""
    out: Path
    """Output file (.jsonl / .json / .parquet) or folder (hf, a name without extension)."""
    format: Literal["jsonl", "parquet", "hf"] | None = None
    """jsonl, parquet, or a Hugging Face datasets folder (save_to_disk); default: the one --out's extension names."""
    mode: Literal["weights", "topk", "resample"] = "weights"
    """weights: every row with its sot_weight; topk: rows with keep = true; resample: a seeded multinomial sample."""
    n: int | None = None
    """Rows drawn by --mode resample (default: as many as the input has)."""
    schema: Literal["plain", "trl", "trl-messages"] = "plain"
    """plain: the input's columns; trl: prompt/completion as TRL's SFTTrainer reads them; trl-messages: one `messages`
    column of user/assistant turns. The TRL layouts keep only id, the text and (--mode weights) sot_weight."""
    keep_columns: bool = False
    """With --schema trl or trl-messages, keep the label and diagnostic columns too (is_harmful, kind, potentials)."""

    unused_fields = ("device",)  # selects rows on the CPU
    field_help = {"seed": "Seed of the resample draw.", "overwrite": "Replace an existing output."}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "format", export_format(Path(self.out), self.format))
        if self.n is not None and self.mode != "resample":
            raise ConfigError(f"--n is only used with --mode resample (got --mode {self.mode})")
        if self.n is not None and self.n < 1:
            raise ConfigError(f"--n must be ≥ 1 (got {self.n})")
        if self.keep_columns and self.schema == "plain":
            raise ConfigError("--keep-columns needs --schema trl or trl-messages (--schema plain keeps every column)")


def export_format(out: Path, given: str | None) -> str:
    """The format to write: `given`, which must agree with --out's extension, or the one the extension names."""
    suffix = out.suffix.lower()
    implied = FORMAT_OF_SUFFIX.get(suffix, "hf" if not suffix else None)
    if given is None and implied is None:
        raise ConfigError(f"--out {out}: the extension '{suffix}' names no export format; end --out in .jsonl, "
                          ".json or .parquet, give a folder name without extension for hf, or pass --format")
    if given is None:
        return implied
    if suffix and implied is not None and given != implied:
        fix = f"name the file {out.with_suffix('.' + given).name}" if given != "hf" else "give a folder name without it"
        raise ConfigError(f"--format {given} contradicts --out {out}, whose extension {suffix} means {implied}; "
                          f"drop --format to write {implied}, or {fix}")
    return given


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
        lines = [json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist()]
        atomic_write_bytes(out, ("\n".join(lines) + "\n").encode("utf-8"))
    else:
        from datasets import Dataset

        with atomic_folder(out) as tmp:
            Dataset(table).save_to_disk(str(tmp))
            files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
            marker = {"written_by": "curate export", "format": "hf", "files": files}
            (tmp / EXPORT_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _foreign_entries(folder: Path) -> list[str]:
    """What an existing --out folder holds that no `curate export` wrote: every file and empty folder not listed in
    its marker (all of them when there is no marker)."""
    written: set[str] = set()
    marker = folder / EXPORT_MARKER
    if marker.is_file():
        try:
            written = {str(name) for name in json.loads(marker.read_text(encoding="utf-8"))["files"]} | {EXPORT_MARKER}
        except (ValueError, KeyError, TypeError):  # a damaged marker vouches for nothing
            written = set()
    entries = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                entries.append(name + "/")
        elif name not in written:
            entries.append(name)
    return entries


def _check_replaceable(out: Path, source: Path) -> None:
    """--overwrite of an hf folder deletes it whole: allow that only for a folder this command wrote."""
    if not out.is_dir():
        return
    foreign = _foreign_entries(out)
    inside = Path(source).resolve()
    if inside.is_relative_to(out.resolve()):
        name = inside.relative_to(out.resolve()).as_posix()
        foreign = [f"{name} (the input)" if f == name else f for f in foreign]
        foreign += [] if f"{name} (the input)" in foreign else [f"{name} (the input)"]
    if not foreign:
        return
    listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    raise ConfigError(f"--out {out}: refusing to replace a folder that holds what `curate export` did not write "
                      f"({listed}); choose a new or empty folder for --out, or move "
                      f"{'those' if len(foreign) > 1 else 'that'} out first")


def export(config: ExportConfig) -> dict:
    """Write the selected rows; returns a small summary (rows in, rows out, where)."""
    out = Path(config.out)
    check_output(out, "folder" if config.format == "hf" else "file", inputs=(config.input,),
                 overwrite=config.overwrite)
    if config.format == "hf":
        _check_replaceable(out, Path(config.input))
    apply_threads(config)
    table = _read(config.input)
    selected = select_rows(table, config.mode, config.n, config.seed)
    selected = apply_schema(selected, config.schema, config.mode, config.keep_columns, str(config.input))
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
