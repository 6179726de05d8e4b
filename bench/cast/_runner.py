"""Running the arms: the budget plan (heads or rank of every arm), one arm trained and evaluated, the timing.

Each arm's outcome goes to <work>/arms/<key>/outcome.json (written last, atomically) with the budget it was
trained with, so a rerun skips finished arms and a stopped run loses at most the arm in progress. Trained
weights are not kept.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["attention_parameters", "plan_arms", "run_arm", "run_base", "measure_step_seconds", "estimate_seconds"]


def attention_parameters(model) -> int:
    """Parameters of every q/k/v/o projection weight (what full attention tuning updates)."""
    from train.cast.heads import head_slices

    names = {s.name for s in head_slices(model)}
    return int(sum(p.numel() for n, p in model.named_parameters() if n in names))


def _lora_rank(model, args, budget: int) -> int:
    from train.cast.lora import matching_rank

    return matching_rank(model, budget) if args.lora_rank == "match" else int(args.lora_rank)


def _arm_heads(arm, columns: dict, cast: dict, keys: dict) -> tuple[list, int]:
    """(frozen heads, frozen parameter count) of a head-skipping arm."""
    from bench.cast._arms import frozen_count, low_conflict_heads, matched_random_heads

    if arm.name == "random":
        return matched_random_heads(keys, len(cast[arm.rho]), frozen_count(keys, cast[arm.rho]),
                                    [arm.seed, arm.draw, int(round(arm.rho * 1000))])
    heads = cast[arm.rho] if arm.name == "cast" else low_conflict_heads(columns, arm.rho) \
        if arm.name == "low-conflict" else []
    return heads, frozen_count(keys, heads)


def plan_arms(model, columns: dict, arms: list, args) -> dict:
    """{arm key: {heads, frozen_params, updated_params[, lora_rank]}}: every arm's budget before training."""
    from bench.cast._arms import cast_heads, frozen_count, head_keys
    from train.cast.lora import lora_parameters

    keys, total = head_keys(model), attention_parameters(model)
    cast = {rho: cast_heads(columns, rho) for rho in {*args.rhos, args.lora_rho}}
    plan = {}
    for arm in arms:
        if arm.name == "lora":
            rank = _lora_rank(model, args, total - frozen_count(keys, cast[arm.rho]))
            plan[arm.key] = {"heads": [], "frozen_params": 0, "lora_rank": rank,
                             "updated_params": lora_parameters(model, rank)}
            continue
        heads, frozen = _arm_heads(arm, columns, cast, keys)
        plan[arm.key] = {"heads": [list(h) for h in heads], "frozen_params": frozen, "updated_params": total - frozen}
    return plan


def _write(path: Path, payload: dict) -> dict:
    from bench.common import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, payload)
    return payload


def run_base(base, tokenizer, splits, judge, args, work: Path) -> dict:
    """The untuned model's outcome (<work>/arms/base/outcome.json), with its evaluation time."""
    from bench.cast._evaluate import evaluate, summary_row

    path = work / "arms" / "base" / "outcome.json"
    if path.exists():
        return json.loads(path.read_text())
    started = time.perf_counter()
    outcome = evaluate(base, tokenizer, splits, judge, args)
    row = {"arm": "base", "rho": 0.0, "seed": None, "draw": None, "params_updated": 0, **summary_row(outcome),
           "eval_s": round(time.perf_counter() - started, 1)}
    return _write(path, {"row": row, "outcome": outcome})


def run_arm(base, tokenizer, splits, judge, arm, plan: dict, args, work: Path) -> dict:
    """Train `arm` on a copy of `base`, evaluate it, write and return {row, outcome, metrics}."""
    from bench.cast._arms import train_arm
    from bench.cast._evaluate import evaluate, summary_row

    path = work / "arms" / arm.key / "outcome.json"
    if path.exists():
        return json.loads(path.read_text())
    rows = splits["train"].select(["prompt", "response"]).to_pylist()
    model, metrics = train_arm(base, tokenizer, rows, arm, plan, args)
    started = time.perf_counter()
    outcome = evaluate(model, tokenizer, splits, judge, args)
    del model
    entry = plan[arm.key]
    row = {"arm": arm.name, "rho": arm.rho, "seed": arm.seed, "draw": arm.draw if arm.name == "random" else None,
           "params_updated": metrics["updated_params"], "params_planned": entry["updated_params"],
           "frozen_params": metrics["frozen_params"], "heads_skipped": len(entry["heads"]),
           "lora_rank": entry.get("lora_rank"), **summary_row(outcome), "final_loss": metrics["final_loss"],
           "train_s": metrics["seconds"], "eval_s": round(time.perf_counter() - started, 1)}
    metrics = {k: v for k, v in metrics.items() if k != "skipped_heads"}
    return _write(path, {"row": row, "outcome": outcome, "metrics": metrics, "budget": entry})


def measure_step_seconds(base, tokenizer, splits, args) -> float:
    """Seconds per optimiser step of full attention tuning, from `args.timing_steps` steps on a copy."""
    from bench.cast._arms import Arm, train_arm

    rows = splits["train"].select(["prompt", "response"]).to_pylist()
    _, metrics = train_arm(base, tokenizer, rows, Arm("full", 0.0, 0), {"full-s0": {"heads": []}}, args,
                           steps=args.timing_steps)
    return metrics["seconds_per_step"]


def estimate_seconds(n_arms: int, step_s: float, eval_s: float, steps: int) -> float:
    """The arms' wall time: each trains `steps` steps and is evaluated once."""
    return n_arms * (steps * step_s + eval_s)
