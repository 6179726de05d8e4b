"""bench/results/mosaic.json: the rows of every cell, utility (held-out neutral answers and, in
`utility_model_answers`, the model's own answers), learning curves and paired tests, merged across runs.

A run replaces what an earlier run wrote for the same (config, method, seed, steps) and leaves the rest, so the two
configurations, extra seeds and other budgets (--steps) can be run one after another into one file; base and
in-context entries carry steps None and are replaced by every run (they do not train). The curve picture is redrawn from
the merged curves. `across_seeds` is derived, recomputed at every merge from the rows and the paired tests
(bench/mosaic/_seeds.py): each trained budget's rates per seed with a t interval, and the seeds' McNemar tables
summed into one stratified test.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ROW_FIELDS", "UTILITY_FIELDS", "merge_results", "plot_curves"]

ROW_FIELDS = ("config", "method", "order", "active", "dsr", "dsr_ci", "or", "or_ci", "or_neutral", "or_inactive",
              "degenerate", "degenerate_ci", "n_pos", "n_neg", "n_neutral", "n_inactive", "steps", "seed", "dtype",
              "example")
UTILITY_FIELDS = ("config", "method", "seed", "steps", "dtype", "order", "nll_off", "nll_on", "change_pct",
                  "change_ci_pct", "p_value", "n")
"""Keys of a utility entry; model-answer entries add goal_within_1pct (met | missed | unresolved)."""
_SECTIONS = ("rows", "utility", "utility_model_answers", "curve", "paired", "runs")


def _key(entry: dict) -> tuple:
    return entry.get("config"), entry.get("method"), entry.get("seed"), entry.get("steps")


def _run_key(entry: dict) -> tuple:
    args = entry.get("args", {})
    return entry.get("config"), str(args.get("methods")), str(args.get("seeds")), args.get("steps")


def merge_results(path: Path, new: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The file's sections with entries of the same (config, method, seed, steps) as `new`'s replaced by `new`'s."""
    from bench.common import write_json

    old = json.loads(path.read_text()) if path.exists() else {}
    merged = {}
    for section in _SECTIONS:
        replaced = {_key(e) for e in new.get(section, [])}
        if section == "runs":  # one per (config, methods, seeds, steps): a prompt-tuning-only run keeps mosaic's
            replaced = {_run_key(e) for e in new.get(section, [])}
            kept = [e for e in old.get(section, []) if _run_key(e) not in replaced]
        else:
            kept = [e for e in old.get(section, []) if _key(e) not in replaced]
        merged[section] = kept + new.get(section, [])
    from bench.mosaic._seeds import across_seeds

    merged["across_seeds"] = across_seeds(merged)
    write_json(path, merged)
    return merged


def plot_curves(curve: list[dict], path: Path) -> Path | None:
    """DSR, OR and degenerate rate on the validation cells against the training step, one panel per config."""
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(dict.fromkeys(c["config"] for c in curve))
    fig, axes = plt.subplots(1, len(configs), figsize=(6 * len(configs), 5.5), squeeze=False)
    styles = {"dsr": "-", "or": "--", "degenerate": ":"}
    for ax, config in zip(axes[0], configs):
        runs = dict.fromkeys((c["method"], c["seed"], c.get("steps")) for c in curve if c["config"] == config)
        for i, (method, seed, steps) in enumerate(runs):
            points = sorted((c for c in curve if (c["config"], c["method"], c["seed"], c.get("steps"))
                             == (config, method, seed, steps)), key=lambda c: c["step"])
            budget = f" ({steps} steps)" if steps else ""
            for metric, style in styles.items():
                ax.plot([p["step"] for p in points], [100 * p[metric] for p in points], style, color=f"C{i}",
                        label=f"{method} s{seed}{budget} {metric.upper() if metric != 'degenerate' else metric}")
        ax.set(title=f"{config}: validation cells", xlabel="training step", ylabel="% of prompts", ylim=(-2, 102))
        ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # below: keeps lines clear
    fig.tight_layout()
    import io

    from curate.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
