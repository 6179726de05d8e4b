"""The trained arms of the MOSAIC benchmark and the learning curve recorded while they train.

- mosaic: one token set per category, trained on orders 1..max_order (composition is learned);
- per-category: the paper's ablation, each category's tokens trained alone (order-1 tasks only);
- prompt-tuning: one token set per evaluated active subset, trained on that subset only (positives = its
  categories' prompts, negatives = everything else), with as many tokens as the composed prefix: the
  non-composable upper bound. It is trained once per evaluated subset, so it costs `subsets x orders` runs.
Every run saves under OUT/<config>/<arm>-seed<S>/ and is skipped on rerun when its metrics.json exists.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["TRAINED", "train_arm", "train_prompt_tuning", "subset_folder", "curve_callback", "PT_CATEGORY"]

TRAINED = ("mosaic", "per-category", "prompt-tuning")
PT_CATEGORY = "subset"
"""The one category name of a prompt-tuned token set."""


def _config(args, data: Path, out: Path, seed: int, **overrides):
    from train.mosaic import MosaicConfig

    base = dict(data=str(data), out=out, model=args.model, max_order=args.max_order, per_subset=args.per_subset,
                epochs=args.epochs, max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                tokens_per_category=args.tokens, lr=args.lr, dtype=args.dtype, device=args.device,
                threads=args.threads, seed=seed, progress=False, overwrite=True)
    return MosaicConfig(**{**base, **overrides})


def _fit(config, on_step) -> dict:
    from train.mosaic import run

    done = Path(config.out) / "metrics.json"
    if done.exists():
        return json.loads(done.read_text())
    metrics = run(config, on_step=on_step)
    print(f"trained {config.out}: {metrics['steps']} steps, {metrics['seconds_per_step']:.3f} s/step "
          f"({metrics['seconds']} s with the teacher and base answers)", flush=True)
    return metrics


def train_arm(args, arm: str, data: Path, categories: list[str], out: Path, seed: int, on_step=None) -> dict:
    """mosaic (orders 1..max_order) or per-category (order 1 only) on the config's train table."""
    max_order = args.max_order if arm == "mosaic" else 1
    return _fit(_config(args, data, out, seed, categories=",".join(categories), max_order=max_order), on_step)


def subset_folder(root: Path, active) -> Path:
    return root / "+".join(sorted(active))


def train_prompt_tuning(args, train_rows: list[dict], active, root: Path, seed: int) -> dict:
    """One token set for `active` alone: its categories' rows become PT_CATEGORY, every other row neutral."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = subset_folder(root, active)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.parquet"
    if not data.exists():
        rows = [{**r, "category": PT_CATEGORY if r["category"] in active else None} for r in train_rows]
        pq.write_table(pa.Table.from_pylist(rows), data)
    config = _config(args, data, folder / "tokens", seed, categories=PT_CATEGORY, max_order=1,
                     per_subset=args.per_subset * len(active), tokens_per_category=args.tokens * len(active),
                     max_steps=args.pt_steps if args.pt_steps is not None else args.steps)
    return _fit(config, None)


def curve_callback(val_sets: list[dict], judge, every: int, last: int | None, new_tokens: int, record: list[dict]):
    """on_step for MosaicConfig runs: every `every` steps (and at step `last`) judge the validation cells."""
    from bench.mosaic._eval import judge_cell, pooled_rate
    from curate.lm.generation import generate
    from train.mosaic.controller import MosaicController

    def on_step(step: int, tokens, model, tokenizer) -> None:
        if every < 1 or (step % every and step != last):
            return
        cells = []
        for item in val_sets:
            controller = MosaicController(tokens, item["active"])
            answers = generate(model, tokenizer, item["pos"] + item["neg"], controller=controller,
                               max_new_tokens=new_tokens, batch_size=32, progress=False)
            cells.append(judge_cell(judge, item, answers))
        point = {"step": step, "n_pos": sum(c["n_pos"] for c in cells), "n_neg": sum(c["n_neg"] for c in cells),
                 "dsr": pooled_rate(cells, "dsr", ("n_pos",), scale=1),
                 "or": pooled_rate(cells, "or", ("n_neg",), scale=1),
                 "degenerate": pooled_rate(cells, "degenerate", ("n_pos", "n_neg"), scale=1)}
        record.append(point)
        print(f"validation at step {step}: {point}", flush=True)

    return on_step
