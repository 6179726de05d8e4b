"""MOSAIC benchmark on SmolLM2-135M: control tokens vs in-context system prompt vs per-category ablation.

    .venv/bin/python -m bench.mosaic.end_to_end --config risk --out runs/mosaic-risk
    .venv/bin/python -m bench.mosaic.end_to_end --config topics --out runs/mosaic-topics

Trains MOSAIC (orders 1..max-order) and the ablation (each category alone = order-1 sampling only; the tokens of
different categories share no parameters), then on the HELD-OUT split measures, per order r = 1..4 and for a few
active subsets of that size: DSR = refusals on prompts of active categories, OR = refusals on neutral and
inactive-category prompts, for MOSAIC, the ablation, the in-context baseline and the plain model; and utility =
mean response NLL on held-out benign Q/A with controls active vs without. Prints a markdown table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import machine_info, make_parser, timed, write_json
from bench.mosaic._data import load_config_tables
from bench.mosaic._eval import eval_sets, evaluate, table, utility

METHODS = ("base", "in-context", "mosaic", "ablation")


def _train(args, data: Path, out: Path, max_order: int) -> dict:
    from train.mosaic import MosaicConfig, run

    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    return run(MosaicConfig(data=str(data), out=out, categories=",".join(args.categories), max_order=max_order,
                            per_subset=args.per_subset, epochs=args.epochs, batch_size=args.batch_size,
                            max_length=args.max_length, tokens_per_category=args.tokens, device="cpu",
                            threads=args.threads))


def _merged_table(out: Path) -> str:
    """One table from every bench*.json in `out` (methods evaluated by parallel runs on the same prompt sets)."""
    results, utilities, lines = [], {}, []
    for path in sorted(out.glob("bench*.json")):
        summary = json.loads(path.read_text())
        results += summary["results"]
        utilities.update(summary["utility"])
        lines.append(f"{path.name}: judge={summary['judge']} timings={summary['timings']}")
    for name in ("mosaic", "ablation"):
        if (out / name / "metrics.json").exists():
            metrics = json.loads((out / name / "metrics.json").read_text())
            lines.append(f"{name}: {metrics['steps']} steps, {metrics['seconds']} s, "
                         f"tasks {metrics['tasks_per_order']}, "
                         f"loss first/last by order {metrics['loss_first_last_by_order']}")
    return "\n".join(lines + [table(results), f"utility={utilities}"])


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--config", choices=["risk", "topics"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stage", choices=["train", "eval", "all", "table"], default="all",
                        help="table: print the merged table of every bench*.json in --out")
    parser.add_argument("--per-subset", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=80)
    parser.add_argument("--tokens", type=int, default=5)
    parser.add_argument("--max-order", type=int, default=3)
    parser.add_argument("--subsets", type=int, default=2, help="active subsets evaluated per order")
    parser.add_argument("--n-eval", type=int, default=16, help="positive and negative prompts per subset")
    parser.add_argument("--n-utility", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fastest on a shared CPU)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of base,in-context,mosaic,ablation (to run them in parallel)")
    args = parser.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"--methods: unknown {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
    if args.stage == "table":
        print(_merged_table(args.out))
        return

    train_rows, heldout, args.categories, source = load_config_tables(args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "train.parquet"
    if args.stage in ("train", "all"):  # an eval run beside a training run must not rewrite its input
        pq.write_table(pa.Table.from_pylist(train_rows), data)
    controls = {name: args.out / name for name in ("mosaic", "ablation") if name in args.methods}
    timings = {}
    if args.stage in ("train", "all"):
        for name, path in controls.items():
            with timed(timings, f"train_{name}_s", digits=1):
                _train(args, data, path, args.max_order if name == "mosaic" else 1)
    if args.stage in ("eval", "all"):
        import torch

        from curate.models import load_causal_lm

        try:
            from curate.evaluation.judge_train import default_judge

            judge, judge_name = default_judge(), "default_judge (rules + MiniLM LR)"
        except Exception as err:  # the registry-trained judge needs DATA's registry:refusals
            judge, judge_name = None, f"rules only (RefusalJudge unavailable: {type(err).__name__})"
        torch.set_num_threads(args.threads)
        tokenizer, model = load_causal_lm("smollm2-135m", device="cpu", dtype=torch.float32)
        rng = np.random.default_rng(0)
        with timed(timings, "eval_s", digits=1):
            sets = eval_sets(heldout, args.categories, args.subsets, args.n_eval, rng)
            results = evaluate(model, tokenizer, judge, sets, controls, args.new_tokens, "base" in args.methods,
                               "in-context" in args.methods)
        with timed(timings, "utility_s", digits=1):
            util = utility(model, tokenizer, heldout, args.categories, controls, args.n_utility, args.max_length, rng)
        summary = {"config": args.config, "data_source": source, "judge": judge_name, "args": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "utility": util,
            "timings": timings, "machine": machine_info(), "results": results}
        name = "bench.json" if set(args.methods) == set(METHODS) else f"bench-{'+'.join(args.methods)}.json"
        write_json(args.out / name, summary)
        print(f"config={args.config} data={source} judge={judge_name}\n{table(results)}\nutility={util}")


if __name__ == "__main__":
    main()
