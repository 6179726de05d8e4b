"""CAST on SmolLM2-135M-Instruct: full attention tuning vs CAST vs random skip vs low-conflict skip.

    .venv/bin/python -m bench.cast.end_to_end --work runs/cast   # full run (finished stages are skipped on rerun)
    .venv/bin/python -m bench.cast.end_to_end --help             # sizes, steps, seeds

Stages (each writes into --work and is skipped on rerun when its output exists):
 1. data      seeded, disjoint subsets: safety training rows (harmful train prompts -> refusal templates, from
              safe-anchor kind=refusal, mixed with --benign-fraction benign Q/A from benign-qa train); calibration
              sets D_safe / D_util for the diagnosis (not in the training rows); held-out harmful prompts
              (harmful-prompts:heldout); held-out benign prompts and reference answers (benign-qa:heldout,
              disjoint rows for over-refusal and for NLL).
 2. diagnose  `curate diagnose-heads` on the base model (ablation sensitivity); heat maps copied to --figures.
 3. train     `curate train cast` four times, identical data, steps, batches, lr and seed:
              none (full attention tuning), conflict (CAST), random, low-conflict (same number of heads skipped).
 4. eval      `curate eval` of the base model and the four fine-tunes on the held-out sets.
Prints the table and writes results.json / results.md in --work.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.common import RESULTS, SYSTEM_PROMPT, add_held_out_arguments, evaluate_model, make_parser, timed

SELECTIONS = ("none", "conflict", "random", "low-conflict")
COLUMNS = ["id", "prompt", "response", "category"]


def parse_args(argv=None) -> argparse.Namespace:
    p = make_parser(__doc__)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--figures", type=Path, default=RESULTS / "cast", help="where the heat maps are copied")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-rows", type=int, default=256)
    p.add_argument("--benign-fraction", type=float, default=0.25)
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=96)
    p.add_argument("--skip-fraction", type=float, default=0.1)
    p.add_argument("--diag-batches", type=int, default=4)
    p.add_argument("--diag-batch-size", type=int, default=8)
    p.add_argument("--ablation-batches", type=int, default=1)
    p.add_argument("--sensitivity", default="ablation", choices=["ablation", "taylor"])
    add_held_out_arguments(p, harmful=64, benign=48, nll_rows=64)
    p.add_argument("--selections", default=",".join(SELECTIONS))
    return p.parse_args(argv)


def _take(table: pa.Table, idx: np.ndarray) -> pa.Table:
    return table.take(np.sort(idx)).select([c for c in COLUMNS if c in table.column_names])


def stage_data(args, data: Path) -> dict:
    from curate.datasets import load_dataset_table

    if (data / "source.json").exists():
        return json.loads((data / "source.json").read_text())
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    anchor = load_dataset_table("safe-anchor")
    refusals = anchor.filter(pc.equal(anchor.column("kind"), "refusal"))
    benign = load_dataset_table("benign-qa", "train")
    n_benign = int(round(args.benign_fraction * args.train_rows))
    n_refusal = args.train_rows - n_benign
    n_calib = args.diag_batches * args.diag_batch_size
    r_order, b_order = rng.permutation(refusals.num_rows), rng.permutation(benign.num_rows)
    train = pa.concat_tables([_take(refusals, r_order[:n_refusal]), _take(benign, b_order[:n_benign])])
    pq.write_table(train, data / "train.parquet")
    pq.write_table(_take(refusals, r_order[n_refusal:n_refusal + n_calib]), data / "calib_safe.parquet")
    pq.write_table(_take(benign, b_order[n_benign:n_benign + n_calib]), data / "calib_util.parquet")
    harmful = load_dataset_table("harmful-prompts", "heldout")
    pq.write_table(_take(harmful, rng.choice(harmful.num_rows, args.eval_harmful, replace=False)),
                   data / "eval_harmful.parquet")
    heldout = load_dataset_table("benign-qa", "heldout")
    order = rng.permutation(heldout.num_rows)
    pq.write_table(_take(heldout, order[:args.eval_benign]), data / "eval_benign.parquet")
    pq.write_table(_take(heldout, order[args.eval_benign:args.eval_benign + args.nll_rows]), data / "nll.parquet")
    source = {"train_rows": train.num_rows, "train_refusal_rows": n_refusal, "train_benign_rows": n_benign,
              "calibration_rows_per_set": n_calib, "eval_harmful": args.eval_harmful, "eval_benign": args.eval_benign,
              "nll_rows": args.nll_rows}
    (data / "source.json").write_text(json.dumps(source, indent=2))
    return source


def stage_diagnose(args, data: Path, out: Path) -> dict:
    from train.cast.conflict_map import HEATMAPS
    from train.cast.diagnose import DiagnoseConfig, run

    if not (out / "manifest.json").exists():
        run(DiagnoseConfig(out=out, model=args.model, safe=str(data / "calib_safe.parquet"),
                           util=str(data / "calib_util.parquet"), batches=args.diag_batches,
                           batch_size=args.diag_batch_size, ablation_batches=args.ablation_batches,
                           max_length=args.max_length, sensitivity=args.sensitivity, system=SYSTEM_PROMPT,
                           seed=args.seed, overwrite=True))
    args.figures.mkdir(parents=True, exist_ok=True)
    for file in HEATMAPS.values():
        shutil.copyfile(out / file, args.figures / file)
    return json.loads((out / "manifest.json").read_text())


def stage_train(args, data: Path, cmap: Path, out: Path, select: str) -> dict:
    from train.cast.run import CastConfig, run

    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    return run(CastConfig(data=str(data / "train.parquet"), out=out, model=args.model, conflict_map=cmap,
                          select=select, skip_fraction=args.skip_fraction, max_steps=args.steps, lr=args.lr,
                          batch_size=args.batch_size, max_length=args.max_length, system=SYSTEM_PROMPT, seed=args.seed,
                          save_every=6, overwrite=True))


def main(argv=None) -> None:
    from bench.cast._table import write_tables

    args = parse_args(argv)
    work, data = args.work, args.work / "data"
    timings: dict[str, float] = {}
    with timed(timings, "data"):
        source = stage_data(args, data)
    with timed(timings, "diagnose"):
        manifest = stage_diagnose(args, data, work / "map")
    selections = args.selections.split(",")
    metrics = {}
    for select in selections:
        with timed(timings, f"train_{select}"):
            metrics[select] = stage_train(args, data, work / "map", work / f"ft_{select}", select)
        print(f"[cast] trained {select}: final loss {metrics[select]['final_loss']:.4f}", flush=True)
    models = {"base": args.model} | {s: str(work / f"ft_{s}") for s in selections}
    summaries = {}
    for name, path in models.items():
        with timed(timings, f"eval_{name}"):
            summaries[name] = evaluate_model(path, work / "eval" / name, data, args)
        print(f"[cast] evaluated {name}", flush=True)
    write_tables(work, vars(args) | source, manifest, metrics, summaries, timings)


if __name__ == "__main__":
    main()
