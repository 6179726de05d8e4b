"""Eval outputs for people: a short Markdown report and a bar chart of refusal rates per category."""

from __future__ import annotations

from pathlib import Path

from curate.config import atomic_write_text

__all__ = ["write_report", "write_chart"]


def write_chart(summary: dict, path: Path) -> bool:
    """Bars: refusal rate per category (harmful) and over-refusal per category (benign). False if no data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = []
    for key, label in (("harmful", "refused (harmful)"), ("benign", "over-refused (benign)")):
        for cat, stats in summary.get(key, {}).get("per_category", {}).items():
            bars.append((f"{cat}\n{label}", stats["rate"], "tab:green" if key == "harmful" else "tab:red"))
    if not bars:
        return False
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(bars)), 3.6))
    ax.bar(range(len(bars)), [b[1] for b in bars], color=[b[2] for b in bars])
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.set_title(f"refusal rates: {summary.get('model', '')}")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return True


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def write_report(summary: dict, out: Path) -> None:
    """report.md (and chart.png) beside summary.json."""
    lines = [f"# Evaluation: `{summary.get('model')}`", ""]
    if "harmful" in summary:
        h = summary["harmful"]
        lines.append(f"- Harmful prompts: {h['n']}, refused (defence success) **{_pct(h['rate'])}**")
    if "benign" in summary:
        b = summary["benign"]
        lines.append(f"- Benign prompts: {b['n']}, over-refused **{_pct(b['rate'])}**")
    if "nll" in summary:
        n = summary["nll"]
        lines.append(f"- Benign reference NLL: **{n['mean']:.4f}** ± {n['sem']:.4f} nats/token over {n['n']} pairs")
    judge = summary.get("judge", {})
    cv = judge.get("cross_validation")
    if cv:
        lines.append(f"- Judge ({judge.get('kind')}): cross-validated accuracy {_pct(cv['combined_accuracy'])}, "
                     f"F1 {cv['combined_f1']:.3f} on {cv['n']} human labels")
    for key, title in (("harmful", "Refusal rate on harmful prompts"), ("benign", "Over-refusal on benign prompts")):
        cats = summary.get(key, {}).get("per_category", {})
        if cats:
            lines += ["", f"## {title}", "", "| category | n | rate |", "|---|---:|---:|"]
            lines += [f"| {c} | {s['n']} | {_pct(s['rate'])} |" for c, s in cats.items()]
    if write_chart(summary, out / "chart.png"):
        lines += ["", "![refusal rates](chart.png)"]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
