"""The SOT end-to-end results: the aggregate JSON (bench/results/sot_e2e.json) and its Markdown table."""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["markdown", "write_results"]


def _pct(r: dict) -> str:
    return f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"


def _signed(value: float | None, low: float | None = None, high: float | None = None, scale: float = 1.0) -> str:
    if value is None or not math.isfinite(value):
        return ""
    text = f"{scale * value:+.2f}"
    return text + (f" [{scale * low:+.2f}, {scale * high:+.2f}]" if low is not None and math.isfinite(low) else "")


def _method_row(rate: int, method: str, entry: dict) -> str:
    pooled = entry["pooled"][method]
    gap = entry["gap_closure"].get(method, {}).get("pooled")
    nll = entry["nll_change"].get(method, {}).get("nll_task", {}).get("pooled")
    test = (entry["sot_vs"].get(method) or {}).get("pooled") if method != "sot" else None
    gap_text = _signed(gap["gap_closed"], gap["low"], gap["high"], 100) if gap else ""
    nll_text = _signed(nll["relative_diff_pct"], nll["relative_low_pct"], nll["relative_high_pct"]) if nll else ""
    p = f"{test['harmful_compliance']['exact_p']:.3g} / {test['nll_task']['p_value']:.3g}" if test else ""
    return (f"| {rate}% | {method} | {len(pooled['seeds'])} | {_pct(pooled['harmful_compliance'])} | "
            f"{_pct(pooled['over_refusal'])} | {pooled['nll_task']['mean']:.4f} | {nll_text} | "
            f"{pooled['nll_general']['mean']:.4f} | {gap_text} | {p} |")


def markdown(summary: dict) -> str:
    """One row per (rate, method), pooled over its seeds; SOT's paired p-values against the row's method."""
    lines = ["| rate | method | seeds | harmful compliance [95% CI] | over-refusal [95% CI] | task NLL | task NLL vs "
             "uniform % [95% CI] | general NLL | gap closed % [95% CI] | SOT vs this: McNemar exact p / NLL p |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = ("uniform", "sot", "heuristic", "classifier", "oracle")
    for rate, entry in sorted(summary.items()):
        methods = sorted(entry["pooled"], key=lambda m: order.index(m) if m in order else len(order))
        lines += [_method_row(rate, m, entry) for m in methods]
    gaps = []
    for rate, entry in sorted(summary.items()):
        test = (entry.get("gap_exists") or {}).get("pooled")
        if test:
            m = test["harmful_compliance"]
            gaps.append(f"{rate}%: uniform complies where the oracle refuses on {m['b01']} prompts, the reverse on "
                        f"{m['b10']}, exact McNemar p {m['exact_p']:.2g}")
    if gaps:
        lines.append("\nGap (oracle against uniform, harmful compliance): " + "; ".join(gaps))
    goals = []
    for rate, entry in sorted(summary.items()):
        g = entry["goal"]
        if g["evaluated"]:
            goals.append(f"{rate}%: gap closed {100 * g['gap_closed']:.0f}% [{100 * g['gap_closed_ci'][0]:.0f}, "
                         f"{100 * g['gap_closed_ci'][1]:.0f}], task NLL {g['nll_task_change_pct']:+.2f}% -> "
                         f"{'met' if g['met'] else 'not met'}")
    if goals:
        lines.append("\nGoal (SOT closes >= 70% of the uniform -> oracle gap, task NLL within +2% of uniform): "
                     + "; ".join(goals))
    return "\n".join(lines) + "\n"


def write_results(path: Path, payload: dict, summary: dict) -> str:
    """Write the aggregate JSON at `path` and its table beside it (.md); returns the table."""
    from bench.common import machine_info, write_json
    from curate.io import atomic_write_text

    table = markdown(summary)
    write_json(path, {**payload, "summary": {str(k): v for k, v in summary.items()}, **machine_info()})
    atomic_write_text(path.with_suffix(".md"), table)
    return table
