"""Eval outputs for people: a short Markdown report, a bar chart of refusal rates per category, the printed line."""

from __future__ import annotations

import math
from pathlib import Path

from curate.evaluation.metrics import rate_label
from curate.io import atomic_write_text

__all__ = ["write_report", "write_chart", "format_rate", "format_nll", "set_rates", "summary_line"]

SETS = ("harmful", "benign")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def format_rate(r: dict) -> str:
    """'84.9% [80.6, 88.4] (270/318)': the rate and its interval in %, then k/n."""
    if r.get("n", 0) == 0 or "low" not in r:
        return f"{_pct(r['rate'])} (n={r.get('n', 0)})"
    return f"{_pct(r['rate'])} [{100 * r['low']:.1f}, {100 * r['high']:.1f}] ({r['k']}/{r['n']})"


def format_nll(n: dict) -> str:
    """'2.3456 [2.3012, 2.3900]': the mean NLL and its interval (the ± sem form for summaries without one)."""
    if "low" not in n or math.isnan(n["low"]):
        return f"{n['mean']:.4f} ± {n['sem']:.4f}"
    return f"{n['mean']:.4f} [{n['low']:.4f}, {n['high']:.4f}]"


def set_rates(summary: dict, kind: str) -> dict[str, dict]:
    """{rate name: rate dict} of one prompt set; summaries written before "rates" existed give their refusal rate."""
    entry = summary.get(kind)
    if entry is None:
        return {}
    return entry.get("rates") or {"refusal": entry}


def summary_line(summary: dict) -> str:
    """One line for the terminal: 'DSR 84.9% [80.6, 88.4] (270/318); over-refusal …; benign NLL …'."""
    parts = [f"{rate_label(kind, name)} {format_rate(r)}"
             for kind in SETS for name, r in set_rates(summary, kind).items()]
    if "nll" in summary:
        parts.append(f"benign NLL {format_nll(summary['nll'])}")
    return "; ".join(parts)


def write_chart(summary: dict, path: Path) -> bool:
    """Bars: refusal rate per category (harmful) and over-refusal per category (benign). False if no data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = []
    for key, label in (("harmful", "refused (harmful)"), ("benign", "over-refused (benign)")):
        for cat, stats in summary.get(key, {}).get("per_category", {}).items():
            errors = (stats["rate"] - stats.get("low", stats["rate"]), stats.get("high", stats["rate"]) - stats["rate"])
            bars.append((f"{cat}\n{label}", stats["rate"], "tab:green" if key == "harmful" else "tab:red", errors))
    if not bars:
        return False
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(bars)), 3.6))
    ax.bar(range(len(bars)), [b[1] for b in bars], color=[b[2] for b in bars],
           yerr=[[b[3][0] for b in bars], [b[3][1] for b in bars]], capsize=2, ecolor="0.3")
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.set_title(f"refusal rates (Wilson 95% intervals): {summary.get('model', '')}")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return True


def write_report(summary: dict, out: Path) -> None:
    """report.md (and chart.png) beside summary.json."""
    lines = [f"# Evaluation: `{summary.get('model')}`", ""]
    for kind, what in (("harmful", "Harmful prompts"), ("benign", "Benign prompts")):
        for name, r in set_rates(summary, kind).items():
            lines.append(f"- {what}: {r['n']}, {rate_label(kind, name)} **{format_rate(r)}**")
    if "nll" in summary:
        n = summary["nll"]
        lines.append(f"- Benign reference NLL: **{format_nll(n)}** nats/token over {n['n']} pairs")
    judge = summary.get("judge", {})
    cv = judge.get("cross_validation") or judge.get("metrics", {}).get("cross_validation")
    measured = judge.get("metrics", {}).get("held_out") or judge.get("metrics", {}).get("on_refusals")
    if measured:
        lines.append(f"- Judge ({judge.get('kind')}): accuracy {format_rate(measured['accuracy'])} on "
                     f"{measured['labels']}{' (refusal vs not)' if measured.get('binary') else ''}")
    elif cv:
        lines.append(f"- Judge ({judge.get('kind')}): cross-validated accuracy {_pct(cv['combined_accuracy'])}, "
                     f"F1 {cv['combined_f1']:.3f} on {cv['n']} human labels")
    for kind, what in (("harmful", "harmful prompts"), ("benign", "benign prompts")):
        for name, r in set_rates(summary, kind).items():
            if r.get("per_category"):
                lines += ["", f"## {rate_label(kind, name)} on {what}", "",
                          "| category | rate [95% CI] (k/n) |", "|---|---:|"]
                lines += [f"| {c} | {format_rate(s)} |" for c, s in r["per_category"].items()]
    if write_chart(summary, out / "chart.png"):
        lines += ["", "![refusal rates](chart.png)"]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
