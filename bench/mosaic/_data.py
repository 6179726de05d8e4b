"""Train/held-out tables for the two MOSAIC configurations, from the dataset registry (`curate datasets list`).

- risk: `harmful-prompts` rows of the 5 Do-Not-Answer risk areas (its `category` column; AdvBench rows are left
  out: they belong to no single area) as categories, `benign-qa` as neutral.
- topics: `benign-qa` only; five WordNet lexicographer groups (its `category` column) are the categories, every
  other group and the man-page Q/A are neutral. The five are the groups with the most held-out rows, so each
  evaluation cell can draw >= 30 distinct held-out prompts (food 4, plant 2, animal 14 held-out rows are too few).

Both use the registry's `split` column: training reads only `train` rows, evaluation only `heldout` rows.
"""

from __future__ import annotations

RISK_AREAS = ["discrimination_toxicity", "human_chatbot", "information_hazard", "malicious_uses", "misinformation"]
TOPICS = ["artifact", "act", "person", "cognition", "communication"]
_KEEP = ("prompt", "response", "category")


def _rows(name: str, split: str) -> list[dict]:
    from curate.datasets import load_dataset_table

    return [{k: r.get(k) for k in _KEEP} for r in load_dataset_table(name, split).to_pylist()]


def _config_rows(config: str, split: str) -> list[dict]:
    benign = _rows("benign-qa", split)
    if config == "risk":
        harmful = [r for r in _rows("harmful-prompts", split) if r["category"] in RISK_AREAS]
        return harmful + [{**r, "category": None} for r in benign]
    return [{**r, "category": r["category"] if r["category"] in TOPICS else None} for r in benign]


def load_config_tables(config: str) -> tuple[list[dict], list[dict], list[str], str]:
    """(train rows, held-out rows, categories, source) for config 'risk' or 'topics'; category None = neutral."""
    if config not in ("risk", "topics"):
        raise ValueError(f"config '{config}': use 'risk' or 'topics'")
    categories = RISK_AREAS if config == "risk" else TOPICS
    source = "registry: harmful-prompts + benign-qa" if config == "risk" else "registry: benign-qa"
    return _config_rows(config, "train"), _config_rows(config, "heldout"), categories, source
