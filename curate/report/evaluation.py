"""Report sections of judged answers: a `curate eval --out` folder, or a `curate judge --out` Parquet."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from curate.evaluation.metrics import rate_label
from curate.evaluation.report import format_nll, format_rate, set_rates
from curate.io import read_json, read_table
from curate.report.html import Section, Value, details, grid, key_values, note, table
from curate.report.plots import rate_bars

__all__ = ["evaluation_section", "judged_section", "verdict_of"]

EXAMPLES = 5
"""Answers shown per (prompt set, verdict)."""


def verdict_of(row: dict) -> str:
    """The judge's verdict of one results row; results of the binary judge only say refused or not."""
    if row.get("verdict"):
        return str(row["verdict"])
    return "refusal" if row.get("refused") else "not refused"


def _rate_value(r: dict) -> Value:
    return Value(format_rate(r), r.get("rate", float("nan")))


def _prompt_sets(summary: dict) -> list[str]:
    return [k for k, v in summary.items() if isinstance(v, dict) and ("rates" in v or "rate" in v) and k != "nll"]


def _rates(summary: dict, section_id: str) -> str:
    rows, bars = [], []
    for kind in _prompt_sets(summary):
        for name, r in set_rates(summary, kind).items():
            rows.append([kind, rate_label(kind, name), _rate_value(r), r.get("k"), r.get("n")])
            if r.get("n"):
                bars.append((rate_label(kind, name), r["rate"], r.get("low", r["rate"]), r.get("high", r["rate"])))
    if "nll" in summary:
        nll = summary["nll"]
        rows.append(["benign", "reference NLL (nats/token)", Value(format_nll(nll), nll.get("mean", math.nan)),
                     None, nll.get("n")])
    block = table(["prompt set", "rate", "value [95% interval] (k/n)", "k", "n"], rows, table_id=f"{section_id}-rates")
    return grid(block, rate_bars(bars, "Rates with their 95% intervals") if bars else "")


def _per_category(summary: dict, section_id: str) -> str:
    parts = []
    for kind in _prompt_sets(summary):
        rates = set_rates(summary, kind)
        categories = sorted({c for r in rates.values() for c in r.get("per_category", {})})
        if len(categories) < 2:
            continue
        header = ["category", "n", *(rate_label(kind, name) for name in rates)]
        rows = []
        for category in categories:
            cells = [r.get("per_category", {}).get(category) for r in rates.values()]
            n = next((c["n"] for c in cells if c), 0)
            rows.append([category, n, *(_rate_value(c) if c else None for c in cells)])
        parts.append(table(header, rows, table_id=f"{section_id}-{kind}-categories",
                           caption=f"Per category: {kind} prompts"))
    return ("<h3>Per-category breakdown</h3>" + "".join(parts)) if parts else ""


def _examples(rows: list[dict], section_id: str) -> str:
    """Up to EXAMPLES answers per (prompt set, verdict): the judge's most confident ones when it gave scores."""
    parts = []
    for kind in sorted({r.get("set") or "answers" for r in rows}):
        in_set = [r for r in rows if (r.get("set") or "answers") == kind]
        counts = Counter(verdict_of(r) for r in in_set)
        for verdict, count in counts.most_common():
            chosen = [r for r in in_set if verdict_of(r) == verdict]
            score = f"score_{verdict}" if f"score_{verdict}" in chosen[0] else "judge_score"
            chosen.sort(key=lambda r: -(r.get(score) or 0.0))
            shown = [[r.get("category"), r.get("prompt"), r.get("response"), r.get(score)] for r in chosen[:EXAMPLES]]
            body = table(["category", "prompt", "response", score], shown,
                         table_id=f"{section_id}-{kind}-{verdict}".replace(" ", "-"))
            parts.append(details(f"{kind} prompts, verdict {verdict}: {count} of {len(in_set)} answers "
                                 f"(showing {min(EXAMPLES, count)})", body, open_=not parts))
    return "<h3>Example answers per verdict</h3>" + "".join(parts) if parts else ""


def _answers_table(rows: list[dict], max_rows: int, section_id: str) -> str:
    columns = ["set", "category", "verdict", "prompt", "response"]
    shown = [[r.get("set"), r.get("category"), verdict_of(r), r.get("prompt"), r.get("response")]
             for r in rows[:max_rows]]
    return "<h3>All answers</h3>" + table(columns, shown, table_id=f"{section_id}-answers", searchable=True,
                                         total=len(rows))


def _nll_by_category(folder: Path, section_id: str) -> str:
    path = folder / "nll.parquet"
    if not path.is_file():
        return ""
    nll = read_table(path, what="the nll.parquet of `curate eval --out`").to_pylist()
    groups: dict[str, list[float]] = {}
    for row in nll:
        groups.setdefault(str(row.get("category") or "(none)"), []).append(float(row["nll"]))
    if len(groups) < 2:
        return ""
    rows = [[c, len(v), float(np.mean(v))] for c, v in sorted(groups.items())]
    return table(["category", "pairs", "mean NLL (nats/token)"], rows, table_id=f"{section_id}-nll",
                 caption="Benign reference NLL per category")


def _judge(summary: dict) -> dict:
    judge = summary.get("judge") or {}
    out = {k: judge[k] for k in ("kind", "file", "model") if k in judge}
    cv = judge.get("cross_validation") or (judge.get("metrics") or {}).get("cross_validation")
    if isinstance(cv, dict) and "combined_accuracy" in cv:
        out["cross-validated accuracy"] = cv["combined_accuracy"]
    return out


def evaluation_section(folder: Path, max_rows: int, section_id: str = "evaluation") -> Section:
    """Rates with intervals, per-category rates, example answers per verdict, NLL, and every answer."""
    folder = Path(folder)
    summary = read_json(folder / "summary.json", what="the summary.json of `curate eval --out`")
    header = {k: summary[k] for k in ("model", "device", "seconds") if k in summary}
    header.update({f"judge {k}": v for k, v in _judge(summary).items()})
    parts = [key_values(header), "<h3>Rates</h3>", _rates(summary, section_id), _per_category(summary, section_id)]
    results = folder / "results.parquet"
    if results.is_file():
        rows = read_table(results, what="the results.parquet of `curate eval --out`").to_pylist()
        parts += [_examples(rows, section_id), _answers_table(rows, max_rows, section_id)]
    else:
        parts.append(note("No results.parquet in this folder (the evaluation generated no answers)."))
    parts.append(_nll_by_category(folder, section_id))
    return Section("evaluation", f"Evaluation: {summary.get('model', folder.name)}", "".join(parts), str(folder))


def judged_section(path: Path, max_rows: int, section_id: str = "judged") -> Section:
    """Verdict counts, examples per verdict and every row of a `curate judge` output."""
    rows = read_table(path, what="the Parquet written by `curate judge`").to_pylist()
    counts = Counter(verdict_of(r) for r in rows)
    figures = key_values({"rows": len(rows), **{f"verdict {v}": n for v, n in counts.most_common()}})
    body = figures + _examples(rows, section_id) + _answers_table(rows, max_rows, section_id)
    return Section("judged", f"Judged answers: {Path(path).name}", body, str(path))
