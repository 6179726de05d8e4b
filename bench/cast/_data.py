"""The data of the fair CAST test (issue 18): training, two calibration draws and three evaluation sets.

Every set is drawn from the shipped registry with one seed, and no prompt text (nor id) occurs in two sets:

- train          harmful train prompts answered with refusal templates (safe-anchor, kind = refusal) plus
                 `benign_fraction` WordNet-gloss Q/A (benign-qa train, source wordnet). No man-page row is
                 trained on, so the utility distribution below is outside the safety data.
- calib_safe_a/b D_safe: further refusal rows of the same pool, two disjoint draws.
- calib_util_a/b D_util: man-page Q/A from benign-qa's train split (the utility distribution), two draws.
- eval_harmful   held-out harmful prompts (harmful-prompts heldout): refusal = defence success.
- eval_benign    the over-refusal set's held-out split (benign requests that look alarming).
- nll            held-out man-page Q/A (benign-qa heldout, source man-pages): answer NLL = utility.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.datasets._keys import normalize_text
from curate.errors import ConfigError, InputError

__all__ = ["SplitSizes", "SET_NAMES", "build_splits", "check_disjoint", "write_splits", "load_splits",
           "registry_pools"]

COLUMNS = ["id", "prompt", "response", "category", "source"]
SET_NAMES = ("train", "calib_safe_a", "calib_safe_b", "calib_util_a", "calib_util_b", "eval_harmful",
             "eval_benign", "nll")
MIN_CALIBRATION = 64


@dataclass(frozen=True)
class SplitSizes:
    train_rows: int = 400
    """Training rows in all (refusals + WordNet benign)."""
    benign_fraction: float = 0.2
    """Share of the training rows that are WordNet-gloss Q/A (never from the utility distribution)."""
    calibration_rows: int = 64
    """Rows per calibration set and draw (D_safe and D_util, draws a and b); at least 64."""
    eval_harmful: int = 128
    """Held-out harmful prompts."""
    eval_benign: int = 96
    """Held-out over-refusal prompts."""
    nll_rows: int = 128
    """Held-out man-page Q/A whose answers are scored by NLL."""

    def __post_init__(self) -> None:
        if self.calibration_rows < MIN_CALIBRATION:
            raise ConfigError(f"--calibration-rows {self.calibration_rows}: must be >= {MIN_CALIBRATION} "
                              "(a map from fewer rows is not stable enough to guide anything)")
        if not 0 <= self.benign_fraction < 1:
            raise ConfigError(f"--benign-fraction {self.benign_fraction}: must be in [0, 1)")
        for name in ("train_rows", "eval_harmful", "eval_benign", "nll_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")


def registry_pools() -> dict[str, pa.Table]:
    """The four registry pools the sets are drawn from: refusals, wordnet, man_train, and the held-out sets."""
    from curate.datasets import load_dataset_table

    anchor = load_dataset_table("safe-anchor")
    benign = load_dataset_table("benign-qa")

    def where(table: pa.Table, **equal: str) -> pa.Table:
        for column, value in equal.items():
            table = table.filter(pc.equal(table.column(column), value))
        return table

    return {"refusals": where(anchor, kind="refusal"),
            "wordnet": where(benign, split="train", source="wordnet"),
            "man_train": where(benign, split="train", source="man-pages"),
            "eval_harmful": load_dataset_table("harmful-prompts", "heldout"),
            "eval_benign": load_dataset_table("over-refusal", "heldout"),
            "nll": where(benign, split="heldout", source="man-pages")}


def _take(table: pa.Table, idx: np.ndarray) -> pa.Table:
    out = table.take(np.sort(np.asarray(idx, dtype=np.int64)))
    return out.select([c for c in COLUMNS if c in out.column_names])


def _need(pool: str, table: pa.Table, n: int, what: str) -> None:
    if table.num_rows < n:
        raise ConfigError(f"{what}: needs {n} rows but the {pool} pool has {table.num_rows}; lower the size")


def build_splits(pools: dict[str, pa.Table], sizes: SplitSizes, seed: int) -> dict[str, pa.Table]:
    """Draw every set of SET_NAMES from `pools` (see `registry_pools`); the result passes `check_disjoint`."""
    rng = np.random.default_rng([seed, 18])
    n_benign = int(round(sizes.benign_fraction * sizes.train_rows))
    n_refusal, n_cal = sizes.train_rows - n_benign, sizes.calibration_rows
    _need("refusals", pools["refusals"], n_refusal + 2 * n_cal, "--train-rows with 2 D_safe draws")
    _need("wordnet", pools["wordnet"], n_benign, "--benign-fraction x --train-rows")
    _need("man_train", pools["man_train"], 2 * n_cal, "2 D_util draws of --calibration-rows")
    refusal_order = rng.permutation(pools["refusals"].num_rows)
    util_order = rng.permutation(pools["man_train"].num_rows)
    train = pa.concat_tables([_take(pools["refusals"], refusal_order[:n_refusal]),
                              _take(pools["wordnet"], rng.permutation(pools["wordnet"].num_rows)[:n_benign])])
    out = {"train": train}
    for k, draw in enumerate("ab"):
        out[f"calib_safe_{draw}"] = _take(pools["refusals"], refusal_order[n_refusal + k * n_cal:][:n_cal])
        out[f"calib_util_{draw}"] = _take(pools["man_train"], util_order[k * n_cal:(k + 1) * n_cal])
    for name, n in (("eval_harmful", sizes.eval_harmful), ("eval_benign", sizes.eval_benign),
                    ("nll", sizes.nll_rows)):
        _need(name, pools[name], n, f"--{name.replace('_', '-')}")
        out[name] = _take(pools[name], rng.choice(pools[name].num_rows, n, replace=False))
    check_disjoint(out)
    return out


def check_disjoint(splits: dict[str, pa.Table]) -> None:
    """No id and no (normalised) prompt text is shared by two sets; InputError naming both sets otherwise."""
    ids = {name: set(t.column("id").to_pylist()) for name, t in splits.items()}
    prompts = {name: {normalize_text(p) for p in t.column("prompt").to_pylist()} for name, t in splits.items()}
    for a, b in combinations(splits, 2):
        shared_ids, shared_prompts = ids[a] & ids[b], prompts[a] & prompts[b]
        if shared_ids or shared_prompts:
            example = sorted(shared_ids or shared_prompts)[0]
            raise InputError(f"sets {a} and {b} share {len(shared_ids)} ids and {len(shared_prompts)} prompts "
                             f"(e.g. {example!r}); the calibration, training and evaluation rows must be disjoint")


def write_splits(folder: Path, splits: dict[str, pa.Table], sizes: SplitSizes, seed: int) -> dict:
    """One Parquet per set and (last, the done-marker) source.json with the sizes and row counts."""
    from curate.io import atomic_write_text, write_parquet

    folder.mkdir(parents=True, exist_ok=True)
    for name, table in splits.items():
        write_parquet(table, folder / f"{name}.parquet")
    sources = {name: dict(zip(*np.unique(t.column("source").to_pylist(), return_counts=True)))
               for name, t in splits.items()}
    source = {"seed": seed, "sizes": asdict(sizes), "rows": {n: t.num_rows for n, t in splits.items()},
              "sources": {n: {str(k): int(v) for k, v in s.items()} for n, s in sources.items()},
              "disjoint": "no id or normalised prompt text is shared by two sets (checked)"}
    atomic_write_text(folder / "source.json", json.dumps(source, indent=2) + "\n")
    return source


def load_splits(folder: Path) -> dict[str, pa.Table]:
    """The sets `write_splits` wrote (re-checked for disjointness)."""
    from curate.io import read_table

    splits = {name: read_table(folder / f"{name}.parquet", what=f"the bench's {name} set") for name in SET_NAMES}
    check_disjoint(splits)
    return splits
