"""`curate eval compare A B`: two eval runs on the same prompts, rate by rate and on NLL, with paired tests.

Rows are joined on (prompt set, id). Each rate of `metrics.RATES` gets both arms' Wilson intervals, the
difference B - A and McNemar's p-value; the benign NLL gets the paired-bootstrap difference B - A (also in %
of A's mean) and its p-value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.errors import ConfigError, InputError
from curate.evaluation.metrics import RATES, nll_summary, rate_flags, rate_label
from curate.evaluation.stats import mcnemar, paired_bootstrap, rate
from curate.io import atomic_write_text, check_output

__all__ = ["CompareConfig", "EvalOutput", "load_eval_output", "compare", "format_comparison", "run"]


@dataclass(frozen=True)
class CompareConfig:
    a: Path
    """Baseline eval folder (the --out of a `curate eval` run)."""
    b: Path
    """Eval folder compared with A, made on the same prompts."""
    out: Path | None = None
    """Also write the comparison to this JSON file."""
    n_boot: int = 10_000
    """Bootstrap resamples for the NLL difference."""
    seed: int = 0
    """Seed of the bootstrap."""

    def __post_init__(self) -> None:
        if self.n_boot < 1:
            raise ConfigError(f"--n-boot {self.n_boot}: must be >= 1 (10000 is usual)")
        if self.seed < 0:
            raise ConfigError(f"--seed {self.seed}: must be >= 0 (the bootstrap's generator takes no negative seed)")


@dataclass(frozen=True)
class EvalOutput:
    path: Path
    label: str
    """'A' or 'B', for messages."""
    results: dict[str, list] | None
    """results.parquet as columns (None when the run had no prompts)."""
    nll: dict[str, list] | None
    """nll.parquet as columns (None when the run had no --nll-data)."""


def _read_columns(path: Path, required: tuple[str, ...], label: str) -> dict[str, list] | None:
    import pyarrow.parquet as pq

    if not path.exists():
        return None
    columns = pq.read_table(path).to_pydict()
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputError(f"{label} {path}: lacks the column(s) {', '.join(missing)} of a `curate eval` output; "
                         "pass the --out folder of an unmodified `curate eval` run")
    return columns


def load_eval_output(path: str | Path, label: str) -> EvalOutput:
    """The per-prompt tables of one eval folder; an InputError naming the folder when it is not one."""
    path = Path(path)
    if not (path / "summary.json").is_file():
        raise InputError(f"{label} {path}: not a `curate eval` output (no summary.json); "
                         "pass the --out folder of a finished `curate eval` run")
    results = _read_columns(path / "results.parquet", ("id", "set"), label)
    nll = _read_columns(path / "nll.parquet", ("id", "nll"), label)
    if results is None and nll is None:
        raise InputError(f"{label} {path}: has neither results.parquet nor nll.parquet; "
                         "pass the --out folder of a finished `curate eval` run")
    return EvalOutput(path, label, results, nll)


def _index(ids: list, where: str, out: EvalOutput) -> dict:
    index = {key: i for i, key in enumerate(ids)}
    if len(index) != len(ids):
        raise InputError(f"{out.label} {out.path}: {where} has {len(ids) - len(index)} repeated ids; "
                         "give the prompts a unique id column to compare runs")
    return index


def _align(ids_a: list, ids_b: list, where: str, a: EvalOutput, b: EvalOutput) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in A and in B of the same ids, in A's order; an InputError when the id sets differ."""
    index_a, index_b = _index(ids_a, where, a), _index(ids_b, where, b)
    only_a, only_b = index_a.keys() - index_b.keys(), index_b.keys() - index_a.keys()
    if only_a or only_b:
        raise InputError(f"{where}: the prompt sets differ ({len(only_a)} ids only in A {a.path}, "
                         f"{len(only_b)} only in B {b.path}); "
                         "compare runs made with the same prompts, --limit and --seed")
    return np.array(list(index_a.values()), dtype=int), np.array([index_b[key] for key in index_a], dtype=int)


def _set_rows(columns: dict[str, list], kind: str) -> dict[str, list]:
    keep = [i for i, s in enumerate(columns["set"]) if s == kind]
    return {name: [values[i] for i in keep] for name, values in columns.items()}


def _present(columns: dict[str, list] | None) -> dict[tuple[str, str], dict[str, list]]:
    """{(set, rate): that set's rows} for every rate whose column the results hold."""
    if columns is None:
        return {}
    rows = {kind: _set_rows(columns, kind) for kind in dict.fromkeys(columns["set"])}
    return {(kind, name): rows[kind] for kind in rows for name in RATES if RATES[name][0] in columns}


def _compare_rate(kind: str, name: str, rows_a: dict, rows_b: dict, a: EvalOutput, b: EvalOutput) -> dict:
    pos_a, pos_b = _align(rows_a["id"], rows_b["id"], f"{kind} prompts", a, b)
    flags_a, flags_b = rate_flags(rows_a, name)[pos_a], rate_flags(rows_b, name)[pos_b]
    rate_a, rate_b = rate(int(flags_a.sum()), flags_a.size), rate(int(flags_b.sum()), flags_b.size)
    return {"set": kind, "rate": name, "label": rate_label(kind, name), "n": int(flags_a.size),
            "a": rate_a, "b": rate_b, "diff": rate_b["rate"] - rate_a["rate"], "mcnemar": mcnemar(flags_a, flags_b)}


def _missing_in_b(key: tuple[str, str], a: EvalOutput, b: EvalOutput) -> InputError:
    kind, name = key
    return InputError(f"B {b.path}: lacks the rate {rate_label(kind, name)} ({kind} prompts, column "
                      f"'{RATES[name][0]}') that A {a.path} has; "
                      "evaluate B on the same prompt sets with the same judge")


def _compare_nll(a: EvalOutput, b: EvalOutput, n_boot: int, seed: int) -> dict:
    pos_a, pos_b = _align(a.nll["id"], b.nll["id"], "NLL pairs", a, b)
    nll_a = np.asarray(a.nll["nll"], dtype=np.float64)[pos_a]
    nll_b = np.asarray(b.nll["nll"], dtype=np.float64)[pos_b]
    return {"n": int(nll_a.size), "a": nll_summary(nll_a), "b": nll_summary(nll_b),
            "bootstrap": paired_bootstrap(nll_b, nll_a, n_boot=n_boot, seed=seed)}


def compare(a: EvalOutput, b: EvalOutput, n_boot: int = 10_000, seed: int = 0) -> dict:
    """{a, b, rates: [per (set, rate)], nll, only_in_b}: every rate and the NLL of A, compared with B's."""
    present_a, present_b = _present(a.results), _present(b.results)
    rates = []
    for key, rows_a in present_a.items():
        if key not in present_b:
            raise _missing_in_b(key, a, b)
        rates.append(_compare_rate(*key, rows_a, present_b[key], a, b))
    only_in_b = [rate_label(*key) for key in present_b if key not in present_a]
    nll = None
    if a.nll is not None:
        if b.nll is None:
            raise InputError(f"B {b.path}: has no nll.parquet but A {a.path} has; evaluate B with the same --nll-data")
        nll = _compare_nll(a, b, n_boot, seed)
    elif b.nll is not None:
        only_in_b.append("benign NLL")
    return {"a": str(a.path), "b": str(b.path), "rates": rates, "nll": nll, "only_in_b": only_in_b}


def _interval(r: dict) -> str:
    return f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}] ({r['k']}/{r['n']})"


def _nll_interval(s: dict) -> str:
    return f"{s['mean']:.4f} [{s['low']:.4f}, {s['high']:.4f}]"


def format_comparison(result: dict) -> str:
    """A plain-text table: one row per rate (and NLL) with A, B, B - A and the paired test's p-value."""
    rows = [("", "A", "B", "B - A", "p (paired test)")]
    for r in result["rates"]:
        test = r["mcnemar"]
        rows.append((f"{r['label']} (n={r['n']})", _interval(r["a"]), _interval(r["b"]),
                     f"{100 * r['diff']:+.1f} pt", f"{test['p_value']:.3g} (McNemar, {test['method']})"))
    if result["nll"] is not None:
        nll, boot = result["nll"], result["nll"]["bootstrap"]
        rows.append((f"benign NLL (n={nll['n']})", _nll_interval(nll["a"]), _nll_interval(nll["b"]),
                     f"{boot['mean_diff']:+.4f} ({boot['relative_diff_pct']:+.2f}%)",
                     f"{boot['p_value']:.3g} (paired bootstrap, {boot['n_boot']} resamples)"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"A: {result['a']}", f"B: {result['b']}"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    if result["only_in_b"]:
        lines.append(f"only in B, not compared: {', '.join(result['only_in_b'])}")
    return "\n".join(lines)


def run(config: CompareConfig) -> dict:
    """Compare two eval folders; writes the result to config.out as JSON when set."""
    check_output(config.out, "file", inputs=(config.a, config.b))
    result = compare(load_eval_output(config.a, "A"), load_eval_output(config.b, "B"), config.n_boot, config.seed)
    if config.out is not None:
        atomic_write_text(config.out, json.dumps(result, indent=2) + "\n")
    return result
