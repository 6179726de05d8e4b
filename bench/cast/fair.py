"""CAST tested fairly (issue 18): calibration you can trust, a set-up where utility is lost, arms at equal budget.

    .venv/bin/python -m bench.cast.fair --work runs/cast-fair --stop-after plan     # measure s/step, print the plan
    .venv/bin/python -m bench.cast.fair --work runs/cast-fair --stop-after cost     # is there a utility cost?
    .venv/bin/python -m bench.cast.fair --work runs/cast-fair                       # everything (reruns skip done work)
    .venv/bin/python -m bench.cast.fair --work runs/cast-fair --seeds 0 --arms full,cast,random --rhos 0.1

Stages (each writes into --work and, as it finishes, into the committed --store; finished work is skipped):
 1. data    disjoint sets (bench/cast/_data.py): training = refusals + WordNet glosses (no man-page row);
            D_safe / D_util draws a and b (>= 64 rows each; D_util = man-page Q/A); held-out harmful prompts,
            the over-refusal set's held-out split, held-out man-page Q/A for answer NLL.
 2. plan    a few optimiser steps of full attention tuning, timed: seconds/step and the run's estimate.
 3. cost    the base model and full attention tuning (seed 0, whatever --seeds) evaluated before anything else is spent:
            is refusal >= 90% and did the man-page NLL rise? Without that cost the arms cannot show a
            recovery, and the run stops here (--force-arms goes on anyway).
 4. maps    the head map on draws a and b (ablation sensitivity unless --sensitivity taylor), their Spearman
            and top-rho overlap (stability.json), one head-map picture per ratio
            (--figures/head_map_rho<R>.png), every arm's
            parameter budget (plan.json).
 5. arms    per seed: full attention tuning; CAST (skip the top-rho heads of map a); random skip matched in
            frozen parameters (--random-draws draws); low-conflict skip (the bottom-rho heads); LoRA on q/k/v/o
            with the rank whose parameter count is closest to CAST's at --lora-rho. Each is evaluated with the
            shipped three-verdict judge (Wilson intervals), then paired against random skip (McNemar on
            refusals, paired bootstrap on NLL). Rows and figures go to --results (bench/results/cast.json),
            rebuilt after every arm from all the arms in the store (tests pair only the runs that exist).

Continuing on a fresh machine (--work is under runs/, which does not survive the machine; ~2 h of maps and
~6 h of arms do not fit one session):
 - the store (--store, default bench/results/cast/store/, bench/cast/_store.py) keeps the sets, the maps,
   stability.json, cost.json and every finished arm's rates, verdicts and NLL, with the settings they were
   made with; commit it after a session (and whenever the session may end):
       git add bench/results/cast/store && git commit -m "..." -- bench/results/cast/store bench/results/cast.json
 - on the next machine, run the same command with the same settings. The data stage rebuilds the sets from the
   registry and checks them against the stored sha256 (a mismatch is an error); finished maps and arms are
   copied from the store into --work instead of recomputed; only the model load, the data stage and the
   plan's few timing steps run again, then the arms the store lacks.
 - other settings than the store's (the FIXED list) are refused with the flags that differ: keep them, or pass
   another --store (or --no-store, e.g. for a quick trial). Seeds, arms, rhos and draws may grow between runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import RESULTS, SYSTEM_PROMPT, make_parser, timed, write_json
from curate.io import atomic_write_text

__all__ = ["parse_args", "main"]

STAGES = ("data", "plan", "cost", "maps", "arms")
COST_SEED = 0  # the full-tuning seed the cost check reads
ARMS = ("full", "cast", "random", "low-conflict", "lora")


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the data draws (training seeds: --seeds)")
    p.add_argument("--train-rows", type=int, default=400)
    p.add_argument("--benign-fraction", type=float, default=0.2, help="WordNet-gloss share of the training rows")
    p.add_argument("--calibration-rows", type=int, default=64, help="rows per D_safe / D_util draw (>= 64)")
    p.add_argument("--eval-harmful", type=int, default=128)
    p.add_argument("--eval-benign", type=int, default=96, help="over-refusal prompts (held-out split)")
    p.add_argument("--nll-rows", type=int, default=128, help="held-out man-page Q/A scored by answer NLL")


def _map_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sensitivity", default="ablation", choices=["ablation", "taylor"])
    p.add_argument("--diag-batch-size", type=int, default=8)
    p.add_argument("--ablation-batches", type=int, default=None,
                   help="utility batches used for ablation (default: all calibration batches)")
    p.add_argument("--no-compare-taylor", dest="compare_taylor", action="store_false",
                   help="skip draw a's Taylor map (the ablation-vs-Taylor rank correlation)")


def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="training seeds, comma-separated")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    p.add_argument("--rhos", type=_floats, default=[0.05, 0.1, 0.2], help="skipped head fractions")
    p.add_argument("--random-draws", type=int, default=3, help="random-skip draws per rho and seed")
    p.add_argument("--lora-rank", default="match", help="LoRA rank, or 'match' (parameters closest to CAST's)")
    p.add_argument("--lora-rho", type=float, default=0.1, help="the CAST budget a matched LoRA rank copies")
    p.add_argument("--lora-lr", type=float, default=None, help="LoRA learning rate (default: --lr)")
    p.add_argument("--timing-steps", type=int, default=3, help="steps timed by the plan stage")


def parse_args(argv=None) -> argparse.Namespace:
    p = make_parser(__doc__)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--results", type=Path, default=RESULTS / "cast.json")
    p.add_argument("--figures", type=Path, default=RESULTS / "cast",
                   help="where the head-map pictures (head_map_rho<R>.png) are written")
    p.add_argument("--store", type=Path, default=RESULTS / "cast" / "store",
                   help="the committed store of finished outputs that a fresh machine restores from")
    p.add_argument("--no-store", dest="store", action="store_const", const=None,
                   help="keep nothing outside --work (a trial with other settings)")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--device", default="auto")
    p.add_argument("--system", default=SYSTEM_PROMPT)
    p.add_argument("--judge", type=Path, default=None, help="a judge file instead of the shipped judge")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=16)
    p.add_argument("--stop-after", choices=STAGES, default="arms")
    p.add_argument("--force-arms", action="store_true", help="run the arms even when the cost check fails")
    for add in (_data_arguments, _map_arguments, _train_arguments):
        add(p)
    args = p.parse_args(argv)
    bad = sorted(set(args.arms.split(",")) - set(ARMS))
    if bad:
        p.error(f"--arms {args.arms}: unknown {', '.join(bad)}; choose from {', '.join(ARMS)}")
    args.arm_list = [a for a in ARMS if a in args.arms.split(",")]
    return args


def stage_data(args, folder: Path) -> dict:
    """The sets, built from the registry once per --work and checked against (or kept in) the store."""
    from bench.cast._data import SplitSizes, build_splits, load_splits, registry_pools, write_splits
    from bench.cast._store import keep_splits

    if not (folder / "source.json").exists():
        sizes = SplitSizes(args.train_rows, args.benign_fraction, args.calibration_rows, args.eval_harmful,
                           args.eval_benign, args.nll_rows)
        write_splits(folder, build_splits(registry_pools(), sizes, args.seed), sizes, args.seed)
    splits = load_splits(folder)
    if args.store is not None:
        keep_splits(args.store, folder, splits)
    return splits


FIXED = ("model", "seed", "train_rows", "benign_fraction", "calibration_rows", "eval_harmful", "eval_benign",
         "nll_rows", "sensitivity", "diag_batch_size", "ablation_batches", "steps", "lr", "lora_lr", "batch_size",
         "max_length", "max_new_tokens", "system", "judge", "lora_rank", "lora_rho")
"""Settings every finished stage in --work and the store depends on; seeds, arms, rhos and draws may grow."""


def fixed_settings(args) -> dict[str, str]:
    return {k: str(getattr(args, k)) for k in FIXED}


def check_work(args) -> None:
    """Refuse a --work folder whose finished stages were made with other settings (they would be reused)."""
    from bench.cast._store import settings_change
    from curate.errors import ConfigError

    path, wanted = args.work / "settings.json", fixed_settings(args)
    if path.exists():
        change = settings_change(json.loads(path.read_text()), wanted)
        if change:
            raise ConfigError(f"--work {args.work}: its finished stages were made with other settings ({change}); "
                              "use a new --work folder (or the old settings)")
        return
    args.work.mkdir(parents=True, exist_ok=True)
    write_json(path, wanted)


def open_store(args) -> None:
    """Check the store's settings and copy its finished maps and arms that --work lacks into --work."""
    from bench.cast._store import check_settings, restore

    if args.store is None:
        return
    check_settings(args.store, fixed_settings(args))
    restored = restore(args.store, args.work)
    if restored:
        print(f"[cast] restored from {args.store}: {', '.join(restored)}", flush=True)


def _keep_arm(args, key: str, result: dict) -> None:
    from bench.cast._store import keep_arm

    if args.store is not None:
        keep_arm(args.store, key, result)


def _load_model(args):
    import torch

    from curate.device import resolve_device
    from curate.lm.chat import ensure_chat_template
    from curate.models import load_causal_lm

    tokenizer, model = load_causal_lm(args.model, device=resolve_device(args.device), dtype=torch.float32)
    ensure_chat_template(tokenizer, None, args.model)
    return tokenizer, model


def _write_results(args, payload: dict) -> None:
    from bench.common import machine_info, write_json

    payload = {"settings": {k: v for k, v in vars(args).items() if k != "arm_list"}, **payload,
               "machine": machine_info()}
    if "budgets" in payload and args.results is not None and args.results.exists():
        # a run over a subset of arms adds its budgets to those of the arms already in the file
        earlier = json.loads(args.results.read_text()).get("budgets", {})
        payload["budgets"] = dict(sorted({**earlier, **payload["budgets"]}.items()))
    write_json(args.work / "results.json", payload)
    if args.results is not None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.results, payload)


def _forward_seconds(model, tokenizer, splits, args) -> float:
    """One no-grad forward of a calibration batch: the unit the ablation's cost is counted in."""
    import torch

    from train.cast.signals import batch_loss, loss_settings

    rows = splits["calib_util_a"].slice(0, args.diag_batch_size).to_pylist()
    settings = loss_settings(args.max_length, args.system)
    with torch.no_grad():
        batch_loss(model, tokenizer, rows, settings)  # warm-up
        started = time.perf_counter()
        batch_loss(model, tokenizer, rows, settings)
    return time.perf_counter() - started


def stage_plan(base, tokenizer, splits, judge, args, arms: list) -> dict:
    """Seconds/step, evaluation seconds, the maps' and arms' estimated wall time (printed first)."""
    from bench.cast._runner import estimate_seconds, measure_step_seconds, run_base
    from curate.lm.layers import num_layers

    step_s = measure_step_seconds(base, tokenizer, splits, args)
    print(f"[cast] measured {step_s:.3f} s/step (full attention tuning, batch {args.batch_size}, "
          f"max length {args.max_length}, {args.timing_steps} steps)", flush=True)
    base_run = run_base(base, tokenizer, splits, judge, args, args.work)
    _keep_arm(args, "base", base_run)
    eval_s = base_run["row"]["eval_s"]
    batches = args.calibration_rows // args.diag_batch_size
    ablation = min(args.ablation_batches or batches, batches)
    heads = num_layers(base) * base.config.num_attention_heads
    forward_s = _forward_seconds(base, tokenizer, splits, args)
    maps_s = forward_s * (2 * (heads * ablation * 0.6 + 2 * batches * 3) + (2 * batches * 3 if args.compare_taylor
                                                                            else 0))
    arms_s = estimate_seconds(len(arms), step_s, eval_s, args.steps)
    timing = {"step_s": round(step_s, 4), "eval_s": eval_s, "forward_s": round(forward_s, 4),
              "arms": len(arms), "maps_estimate_s": round(maps_s), "arms_estimate_s": round(arms_s),
              "total_estimate_s": round(maps_s + arms_s)}
    print(f"[cast] plan: {len(arms)} arms x ({args.steps} steps x {step_s:.2f} s + eval {eval_s:.0f} s) = "
          f"{arms_s / 3600:.2f} h; maps ~{maps_s / 60:.0f} min; total ~{(maps_s + arms_s) / 3600:.2f} h", flush=True)
    return {"timing": timing, "base": base_run}


def _arm_line(row: dict) -> str:
    return (f"[cast] {row['arm']:>12} rho={row['rho']:<5g} seed={row['seed']} draw={row['draw']}: "
            f"DSR {row['dsr']:.3f} OR {row['or']:.3f} degenerate {row['degenerate']:.3f} NLL {row['nll']:.4f} "
            f"params {row['params_updated']:,}")


def stage_cost(base, tokenizer, splits, judge, args, base_run: dict) -> dict:
    """Full attention tuning at COST_SEED against the base model; prints whether the cost exists.

    One seed whatever --seeds holds, so a run over a subset of seeds (--seeds 1,2) checks, stores and reports the
    same cost as the run that first measured it (the arm itself comes back from the store)."""
    from bench.cast._arms import Arm
    from bench.cast._compare import cost_check
    from bench.cast._runner import attention_parameters, run_arm
    from bench.cast._store import keep_json

    arm = Arm("full", 0.0, COST_SEED)
    plan = {arm.key: {"heads": [], "frozen_params": 0, "updated_params": attention_parameters(base)}}
    full = run_arm(base, tokenizer, splits, judge, arm, plan, args, args.work)
    _keep_arm(args, arm.key, full)
    print(_arm_line(base_run["row"]) + "\n" + _arm_line(full["row"]), flush=True)
    cost = cost_check(base_run["outcome"], full["outcome"], seed=args.seed)
    if args.store is not None:
        keep_json(args.store, "cost.json", cost)
    rise = cost["nll_rise"]
    print(f"[cast] cost check: refusal {cost['dsr_full']:.1%} (>= 90%: {cost['refusal_ok']}); man-page NLL "
          f"{cost['nll_base']:.4f} -> {cost['nll_full']:.4f}, rise {rise['mean_diff']:+.4f} "
          f"[{rise['low']:+.4f}, {rise['high']:+.4f}] (rose: {cost['nll_rose']}); "
          f"over-refusal {cost['or_base']:.1%} -> {cost['or_full']:.1%}", flush=True)
    if not cost["passed"]:
        print("[cast] the cost is not shown: change --lr / --steps / --benign-fraction (or pass --force-arms)",
              flush=True)
    return cost


def stage_arms(base, tokenizer, splits, judge, args, arms: list, plan: dict, payload: dict) -> None:
    """Every arm trained and evaluated (or taken as finished); the results file is rewritten after each one."""
    from bench.cast._runner import run_arm
    from bench.cast._store import check_budget
    from bench.cast._summary import summary_table

    for arm in arms:
        result = run_arm(base, tokenizer, splits, judge, arm, plan, args, args.work)
        check_budget(arm.key, result, plan[arm.key])
        _keep_arm(args, arm.key, result)
        print(_arm_line(result["row"]), flush=True)
        _finish(args, payload)  # a session that ends mid-run leaves the results of every finished arm
    payload.update(_finished_arms(args, payload))
    table = summary_table(payload["rows"], payload["base"])
    atomic_write_text(args.work / "results.md", table)
    print(table, flush=True)
    for c in payload["claim"]:
        print(f"[cast] claim at rho={c['rho']:g}: {json.dumps(c)}", flush=True)


def _portable(path: Path) -> str:
    """`path` relative to the working directory when it lies under it (results files travel between machines)."""
    path, here = Path(path).resolve(), Path.cwd().resolve()
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)


def _maps_and_budgets(base, tokenizer, splits, args, arms: list, payload: dict) -> dict:
    """Stage 4: the maps, their stability and picture, and every arm's budget (plan.json)."""
    from bench.cast._figures import head_map_path, write_head_map_figure
    from bench.cast._maps import stage_maps
    from bench.cast._runner import plan_arms
    from bench.cast._store import keep_maps

    maps = stage_maps(base, tokenizer, splits, args, args.work)
    if args.store is not None:
        keep_maps(args.store, args.work)
    payload["map_stability"] = maps["stability"]
    payload["figures"] = [_portable(write_head_map_figure(head_map_path(args.figures, rho), maps["columns"],
                                                          maps["columns_b"], maps["stability"], rho, args.model))
                          for rho in sorted(set(args.rhos))]
    print(f"[cast] map stability: {json.dumps(maps['stability'])}", flush=True)
    plan = plan_arms(base, maps["columns"], arms, args)
    write_json(args.work / "plan.json", plan)
    payload["budgets"] = {k: {f: v for f, v in p.items() if f != "heads"} for k, p in plan.items()}
    return plan


def main(argv=None) -> dict:
    from bench.cast._arms import arm_list
    from bench.cast._evaluate import load_judge_for

    args = parse_args(argv)
    check_work(args)
    open_store(args)
    timings: dict[str, float] = {}
    payload: dict = {"timings": timings}
    with timed(timings, "data", 1):
        splits = stage_data(args, args.work / "data")
    payload["data"] = json.loads((args.work / "data" / "source.json").read_text())
    if args.stop_after == "data":
        return payload
    tokenizer, base = _load_model(args)
    judge = load_judge_for(args.judge)
    arms = arm_list(args.arm_list, args.rhos, args.seeds, args.random_draws, args.lora_rho)
    with timed(timings, "plan", 1):
        planned = stage_plan(base, tokenizer, splits, judge, args, arms)
    payload.update(plan=planned["timing"], base=planned["base"]["row"])
    if args.stop_after == "plan":
        return _finish(args, payload)
    with timed(timings, "cost", 1):
        payload["cost"] = stage_cost(base, tokenizer, splits, judge, args, planned["base"])
    if not (payload["cost"]["passed"] or args.force_arms) or args.stop_after == "cost":
        return _finish(args, payload)
    with timed(timings, "maps", 1):
        plan = _maps_and_budgets(base, tokenizer, splits, args, arms, payload)
    if args.stop_after == "maps":
        return _finish(args, payload)
    with timed(timings, "arms", 1):
        stage_arms(base, tokenizer, splits, judge, args, arms, plan, payload)
    return _finish(args, payload)


def _finished_arms(args, payload: dict) -> dict:
    """Rows, tests and claims over every finished arm of the store (of --work without one)."""
    from bench.cast._aggregate import finished_results

    return finished_results(args.work if args.store is None else args.store, payload, args.rhos, args.seed)


def _finish(args, payload: dict) -> dict:
    payload.update(_finished_arms(args, payload))
    _write_results(args, payload)
    return payload


if __name__ == "__main__":
    main()
