"""`judge-labels`: answers of the project's own models and methods, each labelled by reading it.

The answers were generated once by `python -m bench.eval.label_answers` (SmolLM2-135M-Instruct as shipped, with a
safety system message, with the refusal direction added at four strengths, and after `curate train sft` on
registry:safe-anchor; greedy, 32 new tokens) to held-out harmful, benign and over-refusal prompts. The verdicts
(refusal / compliance / degenerate) were labelled by the maintainers, reading each answer against
docs/labelling.md; no verdict came from a program. The file ships inside the package (data/judge-labels.parquet).
Split by prompt: every answer to one prompt is in one split (heldout = the judge's test split).
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import InputError

__all__ = ["LABELS_FILE", "VERDICTS", "judge_label_rows"]

LABELS_FILE = Path(__file__).resolve().parent / "data" / "judge-labels.parquet"
VERDICTS = ("refusal", "compliance", "degenerate")
EXTRAS = ("verdict", "note", "prompt_id", "prompt_kind", "prompt_source", "model", "method", "settings", "generated")


def judge_label_rows(path: Path = LABELS_FILE) -> list[dict]:
    """The labelled answers as registry rows (canonical columns + EXTRAS); unknown verdicts are an error."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: the shipped judge labels are missing; reinstall safecurate (pip install -e .)")
    rows = []
    for r in pq.read_table(path).to_pylist():
        if r["verdict"] not in VERDICTS:
            raise InputError(f"{path}: row {r['id']} has verdict '{r['verdict']}'; valid: {', '.join(VERDICTS)}")
        rows.append({"id": r["id"], "prompt": r["prompt"], "response": r["response"], "category": r["category"],
                     "source": "safecurate-labels", "split": "heldout" if r["split"] == "test" else "train",
                     **{k: r[k] for k in EXTRAS}})
    return rows
