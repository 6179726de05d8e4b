"""The evaluation stage shared by the end-to-end experiments (SOT, CAST): `curate eval` of one model on the
held-out files a data stage wrote (eval_harmful / eval_benign / nll .parquet), skipped when already done."""

from __future__ import annotations

import json
from pathlib import Path


def evaluate(model: str, out: Path, data: Path, *, system: str, max_new_tokens: int, max_length: int,
             batch_size: int = 16) -> dict:
    from curate.evaluation.config import EvalConfig
    from curate.evaluation.run import run

    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    return run(EvalConfig(out=out, model=model, prompts=str(data / "eval_harmful.parquet"),
                          benign_prompts=str(data / "eval_benign.parquet"), nll_data=str(data / "nll.parquet"),
                          system=system, max_new_tokens=max_new_tokens, max_length=max_length,
                          batch_size=batch_size, overwrite=True))
