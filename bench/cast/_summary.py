"""The fair bench's table: one line per (arm, rho), means over seeds and draws with their range."""

from __future__ import annotations

import numpy as np

__all__ = ["summary_table"]

ORDER = ("base", "full", "cast", "random", "low-conflict", "lora")


def _cell(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(float(np.mean(values)), fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def summary_table(rows: list[dict], base: dict) -> str:
    """Markdown: DSR, over-refusal, degenerate, NLL and its rise over base, parameters updated."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in [base, *rows]:
        groups.setdefault((r["arm"], r["rho"]), []).append(r)
    lines = ["| arm | rho | runs | DSR | over-refusal | degenerate | man-page NLL | NLL rise vs base "
             "| params updated |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (arm, rho), group in sorted(groups.items(), key=lambda kv: (ORDER.index(kv[0][0]), kv[0][1])):
        rise = [r["nll"] - base["nll"] for r in group]
        params = sorted({r["params_updated"] for r in group})
        lines.append(f"| {arm} | {rho:g} | {len(group)} | {_cell([r['dsr'] for r in group], '.3f')} | "
                     f"{_cell([r['or'] for r in group], '.3f')} | {_cell([r['degenerate'] for r in group], '.3f')} | "
                     f"{_cell([r['nll'] for r in group], '.4f')} | {_cell(rise, '+.4f')} | "
                     f"{' / '.join(f'{p:,}' for p in params)} |")
    return "\n".join(lines) + "\n"
