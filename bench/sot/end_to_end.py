"""SOT end to end on SmolLM2-135M-Instruct: align, fine-tune on contaminated data four ways, evaluate.

    .venv/bin/python -m bench.sot.end_to_end --work runs/sot_e2e          # full run (resumes finished stages)
    .venv/bin/python -m bench.sot.end_to_end --help                       # sizes, steps, seeds

Stages (each writes into --work and is skipped on rerun when its output exists):
 1. data     seeded subsets: alignment rows from safe-anchor (half refusals, half benign); a fine-tuning
             set from contaminated-sft (all benign rows are corpus partition; --harmful-fraction of rows are its
             harmful dialogues); held-out harmful prompts (harmful-prompts:heldout), held-out benign prompts
             and reference answers (benign-qa:heldout, disjoint rows for over-refusal and for NLL).
 2. align    `train sft` of the base model on the alignment rows.
 3. weights  uniform; SOT (`curate sot-weight`, safe-anchor as the pull set, harmful-reference as the push
             set); the nearest-neighbour heuristic (transport.baselines); the clean oracle (harmful rows 0).
 4. finetune the aligned model on the fine-tuning set, once per weighting, identical steps/batches/seed.
 5. eval     `curate eval` of base, aligned and the four fine-tunes on the held-out sets.
Prints the table and writes results.json / results.md in --work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import SYSTEM_PROMPT, add_held_out_arguments, evaluate_model, make_parser, timed, write_json
from bench.sot._e2e_weights import weight_column

METHODS = ("uniform", "sot", "heuristic", "oracle")


def parse_args(argv=None) -> argparse.Namespace:
    p = make_parser(__doc__)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--align-rows", type=int, default=160)
    p.add_argument("--align-steps", type=int, default=30)
    p.add_argument("--align-lr", type=float, default=1e-4)
    p.add_argument("--ft-rows", type=int, default=240)
    p.add_argument("--harmful-fraction", type=float, default=0.25)
    p.add_argument("--ft-steps", type=int, default=12)
    p.add_argument("--ft-lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=96)
    p.add_argument("--train-last", type=int, default=8, help="decoder blocks trained (0 = all)")
    add_held_out_arguments(p, harmful=32, benign=16, nll_rows=48)
    p.add_argument("--methods", default=",".join(METHODS))
    return p.parse_args(argv)


def _sample(table: pa.Table, n: int, rng: np.random.Generator) -> pa.Table:
    idx = np.sort(rng.choice(table.num_rows, min(n, table.num_rows), replace=False))
    return table.take(idx)


def _keep(table: pa.Table, names: list[str]) -> pa.Table:
    return table.select([c for c in names if c in table.column_names])


def stage_data(args, data: Path) -> None:
    from bench.sot._e2e_data import load

    if (data / "nll.parquet").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cols = ["id", "prompt", "response", "category", "kind", "is_harmful"]
    anchor, source = load("safe-anchor")
    pq.write_table(_keep(anchor, cols), data / "safe_anchor.parquet")
    pq.write_table(_keep(load("harmful-reference")[0], cols), data / "harmful_reference.parquet")
    kinds = np.array(anchor.column("kind").to_pylist())
    half = args.align_rows // 2
    align = pa.concat_tables([_sample(_keep(anchor.filter(pa.array(kinds == k)), cols), half, rng)
                              for k in ("refusal", "benign")])
    pq.write_table(align, data / "align.parquet")
    corpus = _keep(load("contaminated-sft")[0], cols)
    harmful = np.array(corpus.column("is_harmful").to_pylist(), dtype=bool)
    n_harm = int(round(args.harmful_fraction * args.ft_rows))
    ft = pa.concat_tables([_sample(corpus.filter(pa.array(~harmful)), args.ft_rows - n_harm, rng),
                           _sample(corpus.filter(pa.array(harmful)), n_harm, rng)])
    pq.write_table(ft, data / "ft.parquet")
    pq.write_table(_keep(_sample(load("harmful-prompts", "heldout")[0], args.eval_harmful, rng), cols),
                   data / "eval_harmful.parquet")
    benign = load("benign-qa", "heldout")[0]
    picked = _sample(benign, args.eval_benign + args.nll_rows, rng)
    order = rng.permutation(picked.num_rows)
    pq.write_table(_keep(picked.take(order[: args.eval_benign]), cols), data / "eval_benign.parquet")
    pq.write_table(_keep(picked.take(order[args.eval_benign:]), cols), data / "nll.parquet")
    (data / "source.json").write_text(json.dumps({"data_source": source, "align_rows": align.num_rows,
                                                  "ft_rows": ft.num_rows, "ft_harmful_rows": n_harm}))


def _sft(args, data: str, out: Path, model: str, steps: int, lr: float, weight_column: str | None) -> dict:
    from train.sft import SFTConfig, run

    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    return run(SFTConfig(data=data, out=out, model=model, weight_column=weight_column, max_steps=steps, lr=lr,
                         batch_size=args.batch_size, max_length=args.max_length, train_last=args.train_last,
                         system=SYSTEM_PROMPT, seed=args.seed, save_every=10, overwrite=True))


def stage_weights(args, data: Path) -> dict:
    target = data / "ft_weighted.parquet"
    if target.exists() and (data / "weights.json").exists():
        info = json.loads((data / "weights.json").read_text())
        if all(info.get(m, {}).get("status") == "ok" for m in ("sot", "heuristic")):
            return info  # otherwise retry the failed methods (their finished outputs are cached)
    ft = pq.read_table(data / "ft.parquet")
    harmful = np.array(ft.column("is_harmful").to_pylist(), dtype=bool)
    columns = {"w_uniform": np.ones(ft.num_rows), "w_oracle": (~harmful).astype(float)}
    info: dict = {}
    columns["w_heuristic"], info["heuristic"] = weight_column(data, "heuristic")
    columns["w_sot"], info["sot"] = weight_column(data, "sot")
    for name, w in columns.items():
        if w is None:
            continue
        ft = ft.append_column(name, pa.array(np.asarray(w, dtype=np.float64)))
        w = np.asarray(w, dtype=np.float64)
        info.setdefault(name[2:], {}).update({
            "mean_weight_harmful": float(w[harmful].mean()), "mean_weight_benign": float(w[~harmful].mean()),
            "harmful_weight_share": float(w[harmful].sum() / w.sum()),
        })
    pq.write_table(ft, target)
    write_json(data / "weights.json", info)
    return info


def main(argv=None) -> None:
    args = parse_args(argv)
    work, data = args.work, args.work / "data"
    timings: dict[str, float] = {}
    with timed(timings, "data"):
        stage_data(args, data)
    with timed(timings, "align"):
        _sft(args, str(data / "align.parquet"), work / "aligned", args.model, args.align_steps, args.align_lr, None)
    with timed(timings, "weights"):
        weight_info = stage_weights(args, data)
    available = pq.read_schema(data / "ft_weighted.parquet").names
    methods = [m for m in args.methods.split(",") if f"w_{m}" in available]
    with timed(timings, "finetune"):
        for m in methods:
            _sft(args, str(data / "ft_weighted.parquet"), work / f"ft_{m}", str(work / "aligned"), args.ft_steps,
                 args.ft_lr, f"w_{m}")
    models = {"aligned": str(work / "aligned")} | {m: str(work / f"ft_{m}") for m in methods} | {"base": args.model}
    with timed(timings, "eval"):
        summaries = {name: evaluate_model(path, work / "eval" / name, data, args) for name, path in models.items()}
    from bench.sot._e2e_table import write_tables

    source = json.loads((data / "source.json").read_text())
    write_tables(work, vars(args) | source, summaries, weight_info, timings)


if __name__ == "__main__":
    main()
