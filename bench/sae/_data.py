"""SAE benchmark data: chat-formatted registry records → per-token SmolLM2 activations (`curate embed`).

Train: a seeded sample of benign-qa:train Q/A pairs, every harmful-prompts:train prompt (no answer) and every
harmful-dialogues pair (a harmful answer). Held-out: benign-qa:heldout pairs and harmful-prompts:heldout prompts.
No held-out record is ever trained on. Records are wrapped in ChatML user/assistant turns (no system turn),
so the activations look like the ones the model computes while answering in `curate eval`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.common import curate_executable, run_command

CHAT_TEMPLATE = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{response}"


def _subset(name: str, split: str, limit: int | None, seed: int):
    from curate.datasets import load_dataset_table

    table = load_dataset_table(name, split).select(["id", "prompt", "response"])
    if limit is not None and limit < table.num_rows:
        table = table.take(np.sort(np.random.default_rng(seed).choice(table.num_rows, limit, replace=False)))
    return table


def write_inputs(work: Path, benign_train: int, dialogues: int, benign_heldout: int, harmful_heldout: int,
                 seed: int = 0) -> dict:
    """Parquet inputs for the train and held-out activation folders."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    work.mkdir(parents=True, exist_ok=True)
    parts = {
        "train": [_subset("benign-qa", "train", benign_train, seed), _subset("harmful-prompts", "train", None, seed),
                  _subset("harmful-dialogues", "train", dialogues, seed)],
        "heldout": [_subset("benign-qa", "heldout", benign_heldout, seed),
                    _subset("harmful-prompts", "heldout", harmful_heldout, seed)],
    }
    paths = {}
    for kind, tables in parts.items():
        table = pa.concat_tables([t.cast(tables[0].schema) for t in tables])
        paths[kind] = work / f"{kind}-records.parquet"
        pq.write_table(table, paths[kind])
        print(f"{kind}: {table.num_rows} records -> {paths[kind]}", flush=True)
    return paths


def embed(records: Path, out: Path, layer: int, max_length: int) -> Path:
    """`curate embed --encoder lm --pooling none` (resumes if interrupted)."""
    run_command([curate_executable(), "embed", str(records), "--out", str(out), "--encoder", "lm",
                 "--layer", str(layer), "--pooling", "none", "--template", CHAT_TEMPLATE,
                 "--max-length", str(max_length), "--batch-size", "32", "--shard-size", "500"])
    return out


def build_activations(work: Path, layer: int = 15, benign_train: int = 800, dialogues: int = 200,
                      benign_heldout: int = 200, harmful_heldout: int = 150,
                      max_length: int = 128) -> tuple[Path, Path]:
    paths = write_inputs(work, benign_train, dialogues, benign_heldout, harmful_heldout)
    held = embed(paths["heldout"], work / f"acts-heldout-l{layer}", layer, max_length)
    train = embed(paths["train"], work / f"acts-train-l{layer}", layer, max_length)
    return train, held
