"""Eval outputs for people: a short Markdown report, a bar chart of refusal rates per category, the printed line."""

from __future__ import annotations

import math
from pathlib import Path

from curate.evaluation.metrics import rate_label
from curate.io import atomic_write_bytes, atomic_write_text

__all__ = ["write_report", "write_chart", "chart_figure", "format_rate", "format_nll", "set_rates", "summary_line"]

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


# Each set's headline rate and which way is good: refusing harmful prompts is, refusing benign ones is not.
_CHART_SETS = (("harmful", "harmful prompts refused\n(DSR: higher is better)", "tab:green"),
               ("benign", "benign prompts refused\n(over-refusal: lower is better)", "tab:red"))


def _chart_bars(stats_by_category: dict, overall: dict) -> list[tuple[str, dict]]:
    """(label, rate dict) per bar: every category, then the whole set when there is more than one category."""
    bars = list(stats_by_category.items())
    if len(bars) > 1 and overall.get("n"):
        bars.append(("all", overall))
    return bars


def _draw_set(ax, bars: list[tuple[str, dict]], title: str, colour: str) -> None:
    """Bars with Wilson error bars and k/n on each; an empty rate (0 of n) still shows as an outlined stub."""
    x = list(range(len(bars)))
    rates = [0.0 if math.isnan(s["rate"]) else s["rate"] for _, s in bars]
    low = [r - s.get("low", r) for r, (_, s) in zip(rates, bars)]
    high = [s.get("high", r) - r for r, (_, s) in zip(rates, bars)]
    ax.bar(x, rates, color=colour, alpha=0.85, edgecolor=colour, linewidth=1.2,
           hatch=["//" if label == "all" else "" for label, _ in bars])
    ax.bar(x, [0.012] * len(x), color="none", edgecolor=colour, linewidth=1.2)  # zero bars stay visible
    ax.errorbar(x, rates, yerr=[low, high], fmt="none", ecolor="0.2", capsize=3, linewidth=1)
    for xi, r, up, (_, s) in zip(x, rates, high, bars):
        counts = f"{s.get('k', round(r * s.get('n', 0)))}/{s.get('n', 0)}"
        ax.text(xi, min(r + up + 0.03, 1.07), f"{100 * r:.0f}%\n{counts}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [label for label, _ in bars], rotation=30 if len(bars) > 4 else 0,
                  ha="right" if len(bars) > 4 else "center", fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def chart_figure(summary: dict):
    """The eval chart as a matplotlib Figure, one panel per prompt set with categories; None if there is none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(_chart_bars(summary[key].get("per_category", {}), summary[key]), title, colour)
              for key, title, colour in _CHART_SETS if summary.get(key, {}).get("per_category")]
    if not panels:
        return None
    widths = [max(2, len(bars)) for bars, _, _ in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 + 0.75 * sum(widths), 3.8), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (bars, title, colour) in zip(axes[0], panels):
        _draw_set(ax, bars, title, colour)
    axes[0][0].set_ylabel("share of prompts")
    fig.suptitle(f"{summary.get('model', '')}: rates per category, bars = Wilson 95% intervals, labels = k/n",
                 fontsize=9)
    fig.tight_layout()
    return fig


def write_chart(summary: dict, path: Path) -> bool:
    """chart.png: refusal rate per harmful category, over-refusal per benign category. False if no data."""
    import io

    import matplotlib.pyplot as plt

    fig = chart_figure(summary)
    if fig is None:
        return False
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
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
