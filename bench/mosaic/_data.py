"""Train / validation / held-out tables for the MOSAIC configurations.

- categories: `curate.datasets.mosaic_categories` (alcohol, gambling, drugs, weapons, violence from WordNet hyponym
  trees; neutral = other WordNet nouns, man pages, over-refusal), split by concept into train / val / heldout.
- risk-areas: `harmful-prompts` rows of the 5 Do-Not-Answer risk areas (its `category` column; AdvBench rows are
  left out: they belong to no single area) as categories, `benign-qa` as neutral.
- topics: `benign-qa` only; five WordNet lexicographer groups are the categories, the rest neutral (the first
  experiment's context rules, kept to compare).

risk-areas and topics use the registry's `split` column; their validation rows are VAL_PERCENT of the registry's
train rows, chosen by stable hash of the prompt text (harmful) or the synset / command (benign), never trained on.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CONFIGS", "RISK_AREAS", "TOPICS", "ConfigData", "load_config", "load_config_tables"]

CONFIGS = ("categories", "risk-areas", "topics")
RISK_AREAS = ["discrimination_toxicity", "human_chatbot", "information_hazard", "malicious_uses", "misinformation"]
TOPICS = ["artifact", "act", "person", "cognition", "communication"]
VAL_PERCENT = 15
_KEEP = ("prompt", "response", "category")


class ConfigData(NamedTuple):
    train: list[dict]
    val: list[dict]
    heldout: list[dict]
    categories: list[str]
    source: str


def _rows(name: str, split: str) -> list[dict]:
    from curate.datasets import load_dataset_table

    return load_dataset_table(name, split).to_pylist()


def _group(row: dict) -> str:
    """What a validation draw keeps together: a benign synset's questions, else the prompt text."""
    from curate.datasets._keys import normalize_text

    if row["id"].startswith("wn-"):
        return row["id"].rsplit("-q", 1)[0]
    return row["id"] if row["id"].startswith("man-") else normalize_text(row["prompt"])


def _is_val(row: dict) -> bool:
    from curate.datasets._keys import stable_hash

    return stable_hash("mosaic-val", _group(row)) % 100 < VAL_PERCENT


def _registry_rows(config: str, split: str) -> list[dict]:
    benign = _rows("benign-qa", split)
    if config == "risk-areas":
        harmful = [r for r in _rows("harmful-prompts", split) if r["category"] in RISK_AREAS]
        return harmful + [{**r, "category": None} for r in benign]
    return [{**r, "category": r["category"] if r["category"] in TOPICS else None} for r in benign]


def _keep(rows: list[dict]) -> list[dict]:
    return [{k: r.get(k) for k in _KEEP} for r in rows]


def load_config(config: str) -> ConfigData:
    """The three splits of a configuration; category None = neutral."""
    if config not in CONFIGS:
        raise ValueError(f"config '{config}': use one of {', '.join(CONFIGS)}")
    if config == "categories":
        from curate.datasets.mosaic_categories import CATEGORIES, mosaic_category_rows

        rows = mosaic_category_rows()
        train, val, heldout = ([r for r in rows if r["split"] == s] for s in ("train", "val", "heldout"))
        return ConfigData(_keep(train), _keep(val), _keep(heldout), list(CATEGORIES),
                          "curate.datasets.mosaic_categories (WordNet 3.0, man pages, over-refusal)")
    pool = _registry_rows(config, "train")
    source = "registry: harmful-prompts + benign-qa" if config == "risk-areas" else "registry: benign-qa"
    return ConfigData(_keep([r for r in pool if not _is_val(r)]), _keep([r for r in pool if _is_val(r)]),
                      _keep(_registry_rows(config, "heldout")), RISK_AREAS if config == "risk-areas" else TOPICS,
                      source)


def load_config_tables(config: str) -> tuple[list[dict], list[dict], list[str], str]:
    """(train rows, held-out rows, categories, source): the two-split view ('risk' still names risk-areas)."""
    data = load_config("risk-areas" if config == "risk" else config)
    return data.train + data.val, data.heldout, data.categories, data.source
