"""The init comparison's tables: one row per trained SAE, one per init over seeds, dictionary - random pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.sae._score import (
    bootstrap,
    load_held_out,
    percentile_interval,
    record_stats,
    resample_counts,
    seed_interval,
)

__all__ = ["score_runs", "summarise", "paired_rows", "RUN_CI", "SEED_CI"]

RUN_CI = "95% cluster bootstrap over held-out records"
SEED_CI = "95% Student-t over seeds"


def _run_row(name: str, seed: int, folder: Path, boot: dict, point: dict, counts_note: dict) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {
        "sae_init": "random" if name == "random" else "dictionary", "variant": name, "seed": seed,
        "init_fill": metrics.get("dictionary_share", 0.0), "dictionary_atoms": metrics["dictionary_atoms"],
        "fvu": float(point["fvu"][0]), "fvu_ci": percentile_interval(boot["fvu"]),
        "dead": float(point["dead"][0]), "dead_ci": percentile_interval(boot["dead"]), "ci": RUN_CI,
        "dead_train_pct": metrics["final"]["dead_pct"], "train_fvu": metrics["final"]["fvu"],
        "width": metrics["width"], "k": metrics["k"], "steps": metrics["steps"], "tokens": metrics["tokens"],
        "lr": metrics["lr"], "seconds": metrics["seconds"], **counts_note,
    }


def score_runs(folders: dict[tuple[str, int], Path], args) -> tuple[list[dict], list[dict], dict]:
    """Score every trained SAE on one held-out set with shared resamples; (run rows, paired rows, held-out note)."""
    from curate.device import resolve_device
    from train.sae.model import load_sae

    held = load_held_out(args.held, args.eval_tokens)
    counts = resample_counts(held.num_records, args.resamples)
    note = {"held_out_tokens": len(held.vectors), "held_out_records": held.num_records}
    device = resolve_device(args.device)
    rows, draws = [], {}
    for (name, seed), folder in folders.items():
        stats = record_stats(load_sae(folder, device), held)
        draws[(name, seed)] = bootstrap(stats, counts)
        point = bootstrap(stats, np.ones((1, held.num_records)))
        rows.append(_run_row(name, seed, folder, draws[(name, seed)], point, {**note, "l0": stats.l0}))
    return rows, paired_rows(rows, draws), {**note, "folder": str(args.held), "resamples": args.resamples}


def summarise(rows: list[dict]) -> list[dict]:
    """Per variant: the mean over seeds of FVU and dead share, with Student-t intervals."""
    out = []
    for name in dict.fromkeys(row["variant"] for row in rows):
        mine = [row for row in rows if row["variant"] == name]
        fvu, dead = [row["fvu"] for row in mine], [row["dead"] for row in mine]
        out.append({**{key: mine[0][key] for key in ("sae_init", "variant", "init_fill", "dictionary_atoms",
                                                     "width", "k", "steps")},
                    "seed": "mean", "seeds": [row["seed"] for row in mine],
                    "fvu": float(np.mean(fvu)), "fvu_ci": seed_interval(fvu),
                    "dead": float(np.mean(dead)), "dead_ci": seed_interval(dead), "ci": SEED_CI})
    return out


def _pair(name: str, seed, mine: list[float], base: list[float], dead: list[float], fvu_ci, dead_ci,
          ci: str) -> dict:
    """A dictionary variant's FVU `mine` against random's `base` (same seeds), dead-share differences `dead`."""
    delta = [m - b for m, b in zip(mine, base)]
    gain = [100 * ((1 - m) / (1 - b) - 1) for m, b in zip(mine, base)]
    return {"comparison": f"{name} - random", "seed": seed, "fvu_delta": float(np.mean(delta)),
            "fvu_delta_ci": fvu_ci, "dead_delta": float(np.mean(dead)), "dead_delta_ci": dead_ci,
            "fve_gain_relative_pct": float(np.mean(gain)), "ci": ci}


def paired_rows(rows: list[dict], draws: dict) -> list[dict]:
    """Each dictionary variant minus random at the same seed (bootstrap on shared resamples), then over seeds."""
    fvu = {(row["variant"], row["seed"]): row["fvu"] for row in rows}
    dead = {(row["variant"], row["seed"]): row["dead"] for row in rows}
    out = []
    for name in dict.fromkeys(row["variant"] for row in rows if row["variant"] != "random"):
        seeds = [row["seed"] for row in rows if row["variant"] == name and ("random", row["seed"]) in fvu]
        mine, base = [fvu[(name, s)] for s in seeds], [fvu[("random", s)] for s in seeds]
        d_dead = [dead[(name, s)] - dead[("random", s)] for s in seeds]
        for s, m, b, dd in zip(seeds, mine, base, d_dead):
            boot = {key: draws[(name, s)][key] - draws[("random", s)][key] for key in ("fvu", "dead")}
            out.append(_pair(name, s, [m], [b], [dd], percentile_interval(boot["fvu"]),
                             percentile_interval(boot["dead"]), RUN_CI + " (paired resamples)"))
        if seeds:
            out.append(_pair(name, "mean", mine, base, d_dead, seed_interval([m - b for m, b in zip(mine, base)]),
                             seed_interval(d_dead), SEED_CI + " (paired by seed)"))
    return out
