"""SOT end to end on the benchmark family, like for like: every arm fine-tunes on the same rows, steps and batches.

    .venv/bin/python -m bench.sot.end_to_end --stop-after plan        # time 3 steps + a tiny eval; print the plan
    .venv/bin/python -m bench.sot.end_to_end --methods uniform,oracle --seeds 0     # first: is there a gap?
    .venv/bin/python -m bench.sot.end_to_end                          # every arm (finished arms are skipped)
    .venv/bin/python -m bench.sot.end_to_end --rates 5 --seeds 1 --methods sot,heuristic   # one session's share

Arms are (rate, method, seed) for --rates 5,10 x --methods uniform,sot,heuristic,classifier,oracle x --seeds 0,1,2.
 1. data    (bench/sot/_e2e_data.py) the fine-tuning rows = the rows of registry sot-test-{rate} (or a stratified
            seeded subset of --ft-rows), the same for every arm; held-out harmful prompts (harmful-prompts:heldout
            without those a corpus holds, topped up from its train split to --eval-harmful); the over-refusal set's
            held-out split likewise (--eval-benign); held-out answers of the task (--nll-rows) and benign-qa
            reference answers (--nll-general-rows) for NLL.
 2. plan    (--stop-after plan) a few training steps and one evaluation batch per set on the base model, timed;
            prints the estimate of the arms still to run and stops.
 3. align   `train sft` of the base model on safe-anchor rows (half refusals, half benign): the start of every arm.
 4. arms    per arm: the loss weights (bench/sot/_e2e_weights.py: uniform; SOT, the nearest-neighbour heuristic and
            the supervised classifier at the settings and temperatures bench/results/sot_family.json chose on
            validation; the clean oracle, harmful rows weight 0 but kept in the schedule), scaled to mean 1; the
            training loop of `train sft` from the aligned model (seed = the arm's seed); the shipped three-verdict
            judge on the held-out answers. Each finished arm writes --results-dir/rate{r}-{method}-seed{s}.json
            (settings + hash, per-prompt verdicts, per-answer NLL, rates; no weights of the model). A rerun skips
            arms whose file holds the same settings and stops, naming the flag, when they differ, so the arms can
            be spread over sessions that keep only the repository. The aligned model is retrained on each fresh
            machine and need not come out bit-identical (its digest is kept in every arm's file); with
            --rerun-other-start the finished arms made from another aligned model are trained again.
 5. results every finished arm in --results-dir with these settings is aggregated into --results
            (bench/results/sot_e2e.json and .md): rates with Wilson 95% intervals per seed and pooled; gap closure
            (uniform - method) / (uniform - oracle) of harmful compliance with a prompt-bootstrap interval; task
            NLL change vs uniform (paired bootstrap); SOT against each baseline: exact McNemar on compliance and
            over-refusal and paired bootstrap on NLL, per seed and pooled over seeds (bench/sot/_e2e_compare.py).
The earlier run on registry:contaminated-sft (separable by form) is not kept: its figures stay in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import RESULTS, SYSTEM_PROMPT, make_parser

__all__ = ["METHODS", "parse_args", "common_settings", "arm_settings", "other_start", "main"]

METHODS = ("uniform", "sot", "heuristic", "classifier", "oracle")
STAGES = ("data", "plan", "arms")
COMMON_FLAGS = ("model", "data_seed", "align_rows", "align_steps", "align_lr", "ft_rows", "ft_steps", "ft_lr",
                "batch_size", "max_length", "train_last", "max_new_tokens", "eval_harmful", "eval_benign", "nll_rows",
                "nll_general_rows")
"""Flags every arm's result depends on (with the judge, the system turn and the data digests). --eval-batch-size,
--device and --work are left out: they change speed, not the experiment."""


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = sorted(set(names) - set(METHODS))
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from {','.join(METHODS)}")
    return names


def parse_args(argv=None) -> argparse.Namespace:
    p = make_parser(__doc__)
    p.add_argument("--work", type=Path, default=Path("runs/sot_e2e"), help="aligned model and weight caches")
    p.add_argument("--results-dir", type=Path, default=RESULTS / "sot_e2e", help="one JSON per finished arm")
    p.add_argument("--results", type=Path, default=RESULTS / "sot_e2e.json", help="the aggregate (and its .md)")
    p.add_argument("--family-results", type=Path, default=RESULTS / "sot_family.json",
                   help="bench.sot.family's choices on validation (settings and temperatures per rate)")
    p.add_argument("--rates", type=_ints, default=[5, 10])
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    p.add_argument("--methods", type=_methods, default=list(METHODS))
    p.add_argument("--stop-after", choices=STAGES, default="arms")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-seed", type=int, default=0, help="seed of every data draw (training seeds: --seeds)")
    p.add_argument("--align-rows", type=int, default=160)
    p.add_argument("--align-steps", type=int, default=30)
    p.add_argument("--align-lr", type=float, default=1e-4)
    p.add_argument("--ft-rows", type=int, default=None, help="stratified subset of each corpus (default: all rows)")
    p.add_argument("--ft-steps", type=int, default=200)
    p.add_argument("--ft-lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--train-last", type=int, default=8, help="decoder blocks trained (0 = all)")
    p.add_argument("--eval-harmful", type=int, default=320)
    p.add_argument("--eval-benign", type=int, default=200)
    p.add_argument("--nll-rows", type=int, default=300, help="held-out answers of the task scored by NLL")
    p.add_argument("--nll-general-rows", type=int, default=200, help="benign-qa:heldout answers scored by NLL")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--timing-steps", type=int, default=3, help="training steps the plan times")
    p.add_argument("--bootstrap", type=int, default=2000, help="replicates of the gap-closure intervals")
    p.add_argument("--rerun-other-start", action="store_true",
                   help="train the aligned model first and rerun the finished arms whose file names another start "
                        "model (aligned_digest), so that every compared arm starts from the same weights")
    return p.parse_args(argv)


def _sizes(args):
    from bench.sot._e2e_data import Sizes

    return Sizes(align_rows=args.align_rows, ft_rows=args.ft_rows, eval_harmful=args.eval_harmful,
                 eval_benign=args.eval_benign, nll_rows=args.nll_rows, nll_general_rows=args.nll_general_rows,
                 data_seed=args.data_seed)


def common_settings(args, data, judge_digest: str) -> dict:
    """What every arm's figures depend on: the flags, the system turn, the judge file and the eval sets' digest."""
    from bench.sot._e2e_data import table_digest

    sets = (data.eval_harmful, data.eval_benign, data.nll_task, data.nll_general)
    return {k: getattr(args, k) for k in COMMON_FLAGS} | {
        "system": SYSTEM_PROMPT, "judge": judge_digest, "eval_sets": "-".join(table_digest(t) for t in sets)}


def arm_settings(common: dict, arm, data, choice: dict) -> dict:
    from bench.sot._e2e_data import table_digest

    return common | {"rate": arm.rate, "method": arm.method, "seed": arm.seed,
                     "train_rows": table_digest(data.train[arm.rate], ("id", "is_harmful")), "choice": choice}


def _aligned(args, data, run_settings: dict) -> Path:
    """The aligned start model in --work (trained once per settings; a fresh machine trains it again)."""
    from bench.sot._e2e_arms import settings_hash
    from curate.io import write_parquet
    from train.sft import SFTConfig, run

    keys = ("model", "data_seed", "align_rows", "align_steps", "align_lr", "batch_size", "max_length", "train_last")
    out = args.work / f"aligned-{settings_hash({k: run_settings[k] for k in keys})}"
    if not (out / "metrics.json").exists():
        write_parquet(data.align, args.work / "align.parquet")
        run(SFTConfig(data=str(args.work / "align.parquet"), out=out, model=args.model, max_steps=args.align_steps,
                      lr=args.align_lr, batch_size=args.batch_size, max_length=args.max_length,
                      train_last=args.train_last, system=SYSTEM_PROMPT, seed=args.data_seed, device=args.device,
                      save_every=10, overwrite=True, progress=False))
    return out


def _result(arm, settings, common, weights, harmful, metrics, outcome, aligned_digest, device, eval_s) -> dict:
    from bench.common import machine_info
    from bench.sot._e2e_arms import settings_hash
    from bench.sot._e2e_eval import outcome_rates
    from bench.sot._e2e_weights import weight_summary

    train = {k: metrics[k] for k in ("steps", "examples", "tokens", "final_loss", "seconds", "trainable_params")}
    return {"arm": {"rate": arm.rate, "method": arm.method, "seed": arm.seed}, "settings": settings,
            "settings_hash": settings_hash(settings), "common_hash": settings_hash(common),
            "rates": outcome_rates(outcome), "weights": weight_summary(weights, harmful),
            "train": train | {"loss_trace": [round(x, 5) for x in metrics["loss_trace"]]},
            "aligned_digest": aligned_digest, "device": str(device), "eval_seconds": round(eval_s, 1),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine_info(), "outcome": outcome}


def _arm_line(result: dict) -> str:
    a, r = result["arm"], result["rates"]
    return (f"[sot-e2e] {a['rate']}% {a['method']:>10} seed {a['seed']}: harmful compliance "
            f"{r['harmful_compliance']['rate']:.3f} over-refusal {r['over_refusal']['rate']:.3f} task NLL "
            f"{r['nll_task']['mean']:.4f} general NLL {r['nll_general']['mean']:.4f}")


def other_start(held: dict, aligned_digest: str) -> list:
    """The finished arms of `held` ({arm: its stored result, or None when not run}) trained from another aligned
    model than `aligned_digest`: an aligned model trained again on another machine need not be bit-identical."""
    return [arm for arm, result in held.items() if result is not None and result.get("aligned_digest")
            != aligned_digest]


def stage_arms(args, data, todo: list, settings: dict, common: dict, aligned: Path | None = None) -> None:
    """Train and judge each arm still to run, writing its result file as soon as it is finished."""
    import numpy as np

    from bench.common import write_json
    from bench.sot._e2e_arms import file_digest, result_path, train_arm
    from bench.sot._e2e_eval import evaluate
    from bench.sot._e2e_weights import method_weights
    from curate.device import resolve_device
    from curate.evaluation.judges.artefact import default_judge

    run_settings = common | {"eval_batch_size": args.eval_batch_size}
    aligned = aligned or _aligned(args, data, run_settings)
    aligned_digest = file_digest(aligned / "model.safetensors")
    judge, device = default_judge(), resolve_device(args.device)
    for arm in todo:
        train = data.train[arm.rate]
        harmful = np.asarray(train.column("is_harmful").to_pylist(), dtype=bool)
        weights = method_weights(arm.method, arm.rate, train, settings[arm]["choice"], args.work)
        rows = train.select(["prompt", "response"]).to_pylist()
        model, tokenizer, metrics = train_arm(str(aligned), rows, weights, run_settings, arm.seed, device)
        started = time.perf_counter()
        outcome = evaluate(model, tokenizer, data, judge, run_settings)
        result = _result(arm, settings[arm], common, weights, harmful, metrics, outcome, aligned_digest, device,
                         time.perf_counter() - started)
        write_json(result_path(args.results_dir, arm), result)
        print(_arm_line(result), flush=True)
        del model


def stage_plan(args, data, todo: list, common: dict) -> dict:
    """Seconds per training step and per evaluation batch on the base model, and the remaining arms' estimate."""
    import math

    import numpy as np

    from bench.sot._e2e_arms import train_arm
    from bench.sot._e2e_eval import evaluate
    from curate.device import resolve_device
    from curate.evaluation.judges.artefact import default_judge

    run_settings = common | {"eval_batch_size": args.eval_batch_size}
    device = resolve_device(args.device)
    rows = data.train[args.rates[0]].select(["prompt", "response"]).to_pylist()
    started = time.perf_counter()
    model, tokenizer, metrics = train_arm(args.model, rows, np.ones(len(rows)), run_settings, 0, device,
                                          steps=args.timing_steps)
    load_s = time.perf_counter() - started - metrics["seconds"]
    step_s = metrics["seconds_per_step"]
    timings: dict[str, float] = {}
    evaluate(model, tokenizer, data, default_judge(), run_settings, limit=args.eval_batch_size, timings=timings)
    size = args.eval_batch_size
    generate_batches = sum(math.ceil(t.num_rows / size) for t in (data.eval_harmful, data.eval_benign))
    nll_batches = sum(math.ceil(t.num_rows / size) for t in (data.nll_task, data.nll_general))
    eval_s = generate_batches * timings["generate"] / 2 + nll_batches * timings["nll"] / 2
    arm_s = load_s + args.ft_steps * step_s + eval_s
    plan = {"device": str(device), "step_s": round(step_s, 4), "load_s": round(load_s, 1),
            "generate_batch_s": round(timings["generate"] / 2, 2), "nll_batch_s": round(timings["nll"] / 2, 3),
            "arm_s": round(arm_s, 1), "arms_to_run": len(todo), "align_s": round(load_s + args.align_steps * step_s, 1),
            "total_s": round(len(todo) * arm_s + (load_s + args.align_steps * step_s if todo else 0), 1)}
    print(f"[sot-e2e] plan on {device}: {len(todo)} arms to run x ({args.ft_steps} steps x {step_s:.3f} s + eval "
          f"{eval_s:.0f} s + load {load_s:.0f} s) = {len(todo) * arm_s / 3600:.2f} h, alignment "
          f"{plan['align_s']:.0f} s; weights (CPU, once per rate and method, cached in --work) not timed", flush=True)
    print(json.dumps(plan), flush=True)
    return plan


def _collect(args, common: dict) -> tuple[list[dict], list[str]]:
    """Every finished arm in --results-dir made with these common settings, and the files left out."""
    from bench.sot._e2e_arms import settings_hash

    kept, left_out, wanted = [], [], settings_hash(common)
    for path in sorted(args.results_dir.glob("rate*-seed*.json")):
        result = json.loads(path.read_text())
        if result.get("common_hash") == wanted:
            kept.append(result)
        else:
            left_out.append(path.name)
    return kept, left_out


def stage_results(args, data, common: dict) -> None:
    from bench.sot._e2e_compare import aggregate
    from bench.sot._e2e_table import write_results

    results, left_out = _collect(args, common)
    if not results:
        print("[sot-e2e] no finished arm to aggregate", flush=True)
        return
    digests = sorted({r["aligned_digest"] for r in results})
    if len(digests) > 1:
        print(f"[sot-e2e] note: the arms start from {len(digests)} different aligned models (trained again on another "
              "machine); pairs share prompts, not the start model", flush=True)
    summary = aggregate(results, reps=args.bootstrap, seed=args.data_seed)
    arms = [{k: r[k] for k in ("arm", "rates", "weights", "aligned_digest", "device", "eval_seconds")}
            | {"train": {k: v for k, v in r["train"].items() if k != "loss_trace"}} for r in results]
    payload = {"settings": common, "data": data.counts(), "family_results": str(args.family_results),
               "arms": arms, "left_out_other_settings": left_out, "aligned_digests": digests}
    print(write_results(args.results, payload, summary), flush=True)


def main(argv=None) -> None:
    from bench.sot._e2e_arms import arm_list, file_digest, finished
    from bench.sot._e2e_data import build
    from bench.sot._e2e_weights import family_choice
    from curate.evaluation.judges.artefact import DEFAULT_JUDGE

    args = parse_args(argv)
    data = build(args.rates, _sizes(args))
    print(f"[sot-e2e] data: {json.dumps(data.counts())}", flush=True)
    common = common_settings(args, data, file_digest(DEFAULT_JUDGE))
    arms = arm_list(args.rates, args.methods, args.seeds)
    settings = {a: arm_settings(common, a, data, family_choice(args.family_results, a.rate, a.method)) for a in arms}
    held = {a: finished(args.results_dir, a, settings[a]) for a in arms}  # a changed setting stops here
    todo = [a for a in arms if held[a] is None]
    print(f"[sot-e2e] {len(arms) - len(todo)} of {len(arms)} arms finished in {args.results_dir}", flush=True)
    if args.stop_after == "data":
        return
    if args.stop_after == "plan":
        stage_plan(args, data, todo, common)
        return
    aligned = None
    if args.rerun_other_start:
        args.work.mkdir(parents=True, exist_ok=True)
        aligned = _aligned(args, data, common | {"eval_batch_size": args.eval_batch_size})
        stale = other_start(held, file_digest(aligned / "model.safetensors"))
        if stale:
            print(f"[sot-e2e] --rerun-other-start: {len(stale)} finished arms started from another aligned model; "
                  f"training them again: {', '.join(a.key for a in stale)}", flush=True)
        todo = sorted(set(todo) | set(stale), key=arms.index)
    if todo:
        args.work.mkdir(parents=True, exist_ok=True)
        stage_arms(args, data, todo, settings, common, aligned)
    stage_results(args, data, common)


if __name__ == "__main__":
    main()
