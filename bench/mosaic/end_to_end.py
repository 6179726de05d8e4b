"""MOSAIC benchmark: control tokens vs no tokens, the in-context instruction, per-category training, prompt tuning.

    .venv/bin/python -m bench.mosaic.end_to_end --config categories --seeds 0 1 2 --steps 300 --dtype bf16
    .venv/bin/python -m bench.mosaic.end_to_end --config risk-areas --seeds 0 1 2 --steps 300 --dtype bf16
    .venv/bin/python -m bench.mosaic.end_to_end --config categories --methods prompt-tuning --pt-steps 100
    .venv/bin/python -m bench.mosaic.end_to_end --stage table   # also the rates across seeds, pooled tests

Trains the arms (bench/mosaic/_arms.py) per seed; while mosaic and per-category train, every --eval-every steps
the validation cells (one active subset per order, --n-val positives and negatives) are judged: the learning
curve. Then on the held-out split, per order r = 1..max-order and --subsets active subsets of that size, each
cell's --n-eval positives and negatives are answered by every arm and judged by the three-verdict judge
(curate.evaluation): DSR, OR (neutral and inactive), degenerate, with Wilson intervals. Utility = mean response
NLL with tokens on vs off, relative change with a paired bootstrap 95 % interval over answers, on two sets:
`utility`, --n-utility held-out neutral answers (glosses and man-page text, the style of the training negatives, so
the tokens can lower it), and `utility_model_answers`, --n-utility-model answers SmolLM2-135M-Instruct gave to
benign prompts that no configuration holds, about no concept any configuration asks about and no category
(bench/mosaic/_data.py), with the goal check "within 1 % of tokens off". McNemar tests compare mosaic with the
baselines on the same prompts. Rows, both utilities, curve and tests are merged into bench/results/mosaic.json (per
config, method, seed; the run entry records the model-answer source), the curve is drawn to
bench/results/mosaic_curve.png, and the tables are printed. Measured seconds per training step are printed and
saved (metrics.json of each run), so --steps can be sized to the time a run may take.
Prompt tuning trains one run per evaluated subset (--subsets x orders per seed); --pt-steps sizes those runs, and
it can run on its own (--methods prompt-tuning): results merge per (config, method, seed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.common import RESULTS, machine_info, make_parser, timed, write_json
from bench.mosaic._arms import PT_CATEGORY, TRAINED, curve_callback, subset_folder, train_arm, train_prompt_tuning
from bench.mosaic._data import CONFIGS, load_config, model_answer_rows
from bench.mosaic._eval import (
    eval_sets,
    evaluate,
    in_context_prompt,
    paired_tests,
    table,
    utility,
    utility_model_answers,
    utility_table,
)
from bench.mosaic._results import ROW_FIELDS, merge_results, plot_curves

METHODS = ("base", "in-context", *TRAINED)


def _parser():
    parser = make_parser(__doc__)
    parser.add_argument("--config", choices=CONFIGS, default="categories")
    parser.add_argument("--stage", choices=["train", "eval", "all", "table"], default="all",
                        help="table: print the table of the results file")
    parser.add_argument("--out", type=Path, default=Path("runs/mosaic"), help="trained tokens go to OUT/CONFIG/")
    parser.add_argument("--results", type=Path, default=RESULTS / "mosaic.json")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default: --epochs passes)")
    parser.add_argument("--pt-steps", type=int, default=None,
                        help="steps per prompt-tuning run, one per evaluated subset (default: --steps)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--per-subset", type=int, default=100, help="positives per subset at order 1 (paper: 100)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=5, help="control tokens per category")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--max-order", type=int, default=3)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="training backbone")
    parser.add_argument("--eval-every", type=int, default=50, help="validation every N steps (0: no curve)")
    parser.add_argument("--n-val", type=int, default=24, help="validation positives and negatives per cell")
    parser.add_argument("--subsets", type=int, default=3, help="held-out active subsets per order")
    parser.add_argument("--n-eval", type=int, default=60, help="held-out positives and negatives per cell")
    parser.add_argument("--n-utility", type=int, default=100, help="held-out neutral answers for the NLL utility")
    parser.add_argument("--n-utility-model", type=int, default=100,
                        help="the model's own answers to benign prompts for the second NLL utility (0: none)")
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--judge", choices=["default", "rules"], default="default",
                        help="default: the shipped three-verdict judge; rules: refusal phrases + degenerate rules")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fastest on a shared CPU)")
    return parser


def _judge(kind: str):
    if kind == "rules":
        from curate.evaluation.judges.rules import RulesJudge

        return RulesJudge(), "rules (refusal phrases + degenerate thresholds)"
    from curate.evaluation import default_judge

    judge = default_judge()
    return judge, f"default_judge ({type(judge).__name__})"


def _sets(args, data) -> tuple[list[dict], list[dict]]:
    """(validation cells, held-out cells): fixed across seeds and arms, so every comparison is paired."""
    orders = range(1, min(args.max_order, len(data.categories)) + 1)
    val = eval_sets(data.val, data.categories, 1, args.n_val, np.random.default_rng(1), orders)
    heldout = eval_sets(data.heldout, data.categories, args.subsets, args.n_eval, np.random.default_rng(0), orders)
    return val, heldout


def _train(args, data, root: Path, heldout_sets: list[dict], judge, val_sets: list[dict]) -> tuple[dict, list]:
    import pyarrow as pa

    from curate.io import write_parquet

    table_path = root / "train.parquet"
    write_parquet(pa.Table.from_pylist(data.train), table_path)  # atomic: a run beside may be reading it
    metrics, curve = {}, []
    for seed in args.seeds:
        for arm in [m for m in ("mosaic", "per-category") if m in args.methods]:
            folder, record = root / f"{arm}-seed{seed}", []
            saved = folder / "curve.json"
            on_step = curve_callback(val_sets, judge, args.eval_every, args.steps, args.new_tokens, record)
            metrics[(arm, seed)] = train_arm(args, arm, table_path, data.categories, folder, seed, on_step)
            if record:
                write_json(saved, record)
            points = json.loads(saved.read_text()) if saved.exists() else []
            curve += [{"config": args.config, "method": arm, "seed": seed, "steps": metrics[(arm, seed)].get("steps"),
                       **p} for p in points]
        if "prompt-tuning" in args.methods:
            for item in heldout_sets:
                metrics[("prompt-tuning", seed, item["active"])] = train_prompt_tuning(
                    args, data.train, item["active"], root / f"prompt-tuning-seed{seed}", seed)
    return metrics, curve


def _arms(args, root: Path) -> dict:
    """label 'method|seed' -> active -> generation options."""
    from train.mosaic import load_controller

    arms = {}
    if "base" in args.methods:
        arms["base|"] = lambda active: {}
    if "in-context" in args.methods:
        arms["in-context|"] = lambda active: {"system": in_context_prompt(active)}
    for seed in args.seeds:
        for arm in ("mosaic", "per-category"):
            if arm in args.methods:
                path = root / f"{arm}-seed{seed}"
                arms[f"{arm}|{seed}"] = lambda active, path=path: {"controller": load_controller(path, active)}
        if "prompt-tuning" in args.methods:
            pt_root = root / f"prompt-tuning-seed{seed}"
            arms[f"prompt-tuning|{seed}"] = lambda active, r=pt_root: {
                "controller": load_controller(subset_folder(r, active) / "tokens", [PT_CATEGORY]) if active else None}
    return arms


def _label(entry: dict, args, metrics: dict) -> dict:
    method, _, seed = entry.pop("method").partition("|")
    seed = int(seed) if seed else None
    run = metrics.get((method, seed)) or metrics.get((method, seed, tuple(entry.get("active", ()))), {})
    return {"config": args.config, "method": method, "seed": seed, "steps": run.get("steps"),
            "dtype": args.dtype if method in TRAINED else None, **entry}


def _evaluate(args, data, root: Path, heldout_sets: list[dict], judge, metrics: dict,
              model_answers: list[dict]) -> dict:
    import torch

    from curate.models import load_causal_lm

    torch.set_num_threads(args.threads)
    tokenizer, model = load_causal_lm(args.model, device=args.device, dtype=torch.float32)
    arms = _arms(args, root)
    raw = evaluate(model, tokenizer, judge, heldout_sets, arms, args.new_tokens, fixed=("base|",))
    rows = [_label(r, args, metrics) for r in raw]
    paired = paired_tests(rows, "mosaic", [m for m in ("in-context", "per-category", "base") if m in args.methods])
    token_arms = {k: v for k, v in arms.items() if k.split("|")[0] in ("mosaic", "per-category")}
    orders = sorted({1, args.max_order})
    util = utility(model, tokenizer, data.heldout, data.categories, token_arms, args.n_utility, args.max_length,
                   np.random.default_rng(2), orders=orders)
    util_model = utility_model_answers(model, tokenizer, model_answers, data.categories, token_arms, args.max_length,
                                       orders=orders)
    return {"rows": rows, "utility": [_label(u, args, metrics) for u in util],
            "utility_model_answers": [_label(u, args, metrics) for u in util_model],
            "paired": [{"config": args.config, "steps": metrics.get(("mosaic", p["seed"]), {}).get("steps"), **p}
                       for p in paired]}


def _training_summary(metrics: dict) -> list[dict]:
    return [{"arm": list(map(str, key)), "steps": m.get("steps"), "seconds_per_step": m.get("seconds_per_step"),
             "seconds": m.get("seconds"), "loss_first_last_by_order": m.get("loss_first_last_by_order")}
            for key, m in metrics.items()]


def main() -> None:
    args = _parser().parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"--methods: unknown {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
    if args.stage == "table":
        from bench.mosaic._seeds import across_seeds, seeds_table

        results = json.loads(args.results.read_text())
        print(f"{table(results['rows'])}\n\n{seeds_table(across_seeds(results))}")
        return
    data = load_config(args.config)
    root = args.out / args.config
    root.mkdir(parents=True, exist_ok=True)
    judge, judge_name = _judge(args.judge)
    val_sets, heldout_sets = _sets(args, data)
    timings: dict[str, float] = {}
    with timed(timings, "train_s", digits=1):
        metrics, curve = _train(args, data, root, heldout_sets, judge, val_sets)
    for summary in _training_summary(metrics):
        print(f"{'/'.join(summary['arm'])}: {summary['steps']} steps at {summary['seconds_per_step']} s/step",
              flush=True)
    new, answers_record = {"curve": curve}, None
    if args.stage in ("eval", "all"):
        with timed(timings, "eval_s", digits=1):
            model_answers, answers_record = model_answer_rows(args.n_utility_model) if args.n_utility_model else (
                [], None)
            new.update(_evaluate(args, data, root, heldout_sets, judge, metrics, model_answers))
    run_info = {"config": args.config, "data_source": data.source, "utility_model_answers": answers_record,
                "judge": judge_name, "timings": timings,
                "training": _training_summary(metrics), "machine": machine_info(),
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    write_json(root / "bench.json", {**new, "run": run_info})  # with each prompt's `correct`, for re-analysis
    new["rows"] = [{k: r.get(k) for k in ROW_FIELDS} for r in new.get("rows", [])]
    from bench.mosaic._seeds import seeds_table

    merged = merge_results(args.results, {**new, "runs": [run_info]})
    plot_curves(merged["curve"], args.results.with_name(args.results.stem + "_curve.png"))
    print(f"config={args.config} judge={judge_name} timings={timings}\n{table(new['rows'])}\n"
          f"{utility_table(new.get('utility', []), new.get('utility_model_answers', []))}\n"
          f"paired={new.get('paired')}\n\nacross seeds (whole results file):\n{seeds_table(merged['across_seeds'])}")


if __name__ == "__main__":
    main()
