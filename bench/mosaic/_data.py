"""Train / validation / held-out tables for the MOSAIC configurations.

- categories: `curate.datasets.mosaic_categories` (alcohol, gambling, drugs, weapons, violence from WordNet hyponym
  trees; neutral = other WordNet nouns, man pages, over-refusal), split by concept into train / val / heldout.
- risk-areas: `harmful-prompts` rows of the 5 Do-Not-Answer risk areas (its `category` column; AdvBench rows are
  left out: they belong to no single area) as categories, `benign-qa` as neutral.
- topics: `benign-qa` only; five WordNet lexicographer groups are the categories, the rest neutral (the first
  experiment's context rules, kept to compare).

risk-areas and topics use the registry's `split` column; their validation rows are VAL_PERCENT of the registry's
train rows, chosen by stable hash of the prompt text (harmful) or the synset / command (benign), never trained on.

Model answers (the second utility set): every configuration's neutral answers are WordNet glosses and man-page text,
the style the tokens learn from their negatives, so NLL on them can fall with tokens on. `model_answer_rows` takes
instead SmolLM2-135M-Instruct's own greedy answers to benign prompts (curate/datasets/data/sot-family.parquet,
judged compliance), keeping only rows whose prompt (normalised text) no configuration holds in any split, whose
concept (synset or command) no configuration asks about, that are not about a category (a synset of a category's
hyponym closure, a prompt naming a category word, a WordNet group that is a topics category) and whose
over-refusal concept the categories configuration did not drop as a category topic.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["CONFIGS", "RISK_AREAS", "TOPICS", "ConfigData", "Exclusions", "load_config", "load_config_tables",
           "answer_concept", "select_model_answers", "mosaic_exclusions", "model_answer_rows"]

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


# ---------------------------------------------------------------- the model-answer utility set


class Exclusions(NamedTuple):
    """What a model-answer row may not share with the MOSAIC configurations."""

    prompts: frozenset[str]
    """Normalised prompt texts of every configuration's train, val and heldout rows."""
    concepts: frozenset[str]
    """Concepts ('wn:n:OFFSET', 'man:COMMAND', over-refusal's) any configuration asks about, and every synset a
    category claims."""
    words: frozenset[str]
    """Category words (lower case): a prompt naming one as a whole word is about the category."""
    groups: frozenset[str]
    """WordNet lexicographer groups that are categories (the topics configuration)."""


def _group_key(concept: str) -> str:
    from curate.datasets.over_refusal import split_group

    return split_group(concept)


def answer_concept(row: dict, over_refusal: dict[str, str]) -> str | None:
    """The concept a generated benign row asks about; None for an over-refusal row the categories configuration
    does not hold (it was dropped there as a category topic, so it is excluded here)."""
    topic = row["topic_id"]
    if topic.startswith("wn-"):
        return f"wn:n:{topic[3:]}"
    if topic.startswith("man-"):
        return f"man:{topic[4:]}"
    return over_refusal.get(topic)


def _eligible(row: dict, concept: str | None, exclusions: Exclusions, words: re.Pattern | None) -> bool:
    prompt = _normalise(row["prompt"])
    return (not row["is_harmful_prompt"] and row.get("verdict") == "compliance" and bool(row.get("response"))
            and concept is not None and concept not in exclusions.concepts and prompt not in exclusions.prompts
            and not (row["prompt_source"] == "wordnet" and row["category"] in exclusions.groups)
            and not (words and words.search(prompt)))


def _normalise(text: str) -> str:
    from curate.datasets._keys import normalize_text

    return normalize_text(text)


def select_model_answers(generated: list[dict], exclusions: Exclusions, over_refusal: dict[str, str],
                         n: int) -> tuple[list[dict], int]:
    """(up to n eligible rows in stable-hash order, how many were eligible): {id, prompt, response, source,
    concept}; one row per prompt text and per concept, so no concept weighs more than another."""
    from curate.datasets._keys import stable_hash

    names = sorted(exclusions.words, key=len, reverse=True)
    words = re.compile(r"(?<![a-z])(?:" + "|".join(map(re.escape, names)) + r")(?![a-z])") if names else None
    rows, seen = [], set()
    for row in sorted(generated, key=lambda r: (stable_hash("mosaic-utility-model", r["row_id"]), r["row_id"])):
        concept, prompt = answer_concept(row, over_refusal), _normalise(row["prompt"])
        if concept in seen or prompt in seen or not _eligible(row, concept, exclusions, words):
            continue
        seen |= {concept, prompt}
        rows.append({"id": row["row_id"], "prompt": row["prompt"], "response": row["response"],
                     "source": row["prompt_source"], "concept": _group_key(concept)})
    return rows[:n], len(rows)


def _registry_concepts(config: str) -> set[str]:
    """Concepts of a registry configuration's benign rows (ids wn-OFFSET-qN and man-COMMAND), every split."""
    out = set()
    for split in ("train", "heldout"):
        for row in _registry_rows(config, split):
            if row["id"].startswith("wn-"):
                out.add(f"wn:n:{row['id'][3:].rsplit('-q', 1)[0]}")
            elif row["id"].startswith("man-"):
                out.add(f"man:{row['id'][4:]}")
    return out


def mosaic_exclusions() -> tuple[Exclusions, dict[str, str]]:
    """(what every configuration holds or claims, over-refusal row id -> concept for the rows categories keeps)."""
    from curate.datasets.mosaic_categories import category_concepts, mosaic_category_rows, restricted_offsets

    prompts = {_normalise(r["prompt"]) for config in CONFIGS for part in load_config(config)[:3] for r in part}
    rows = mosaic_category_rows()
    concepts = {_group_key(r["concept"]) for r in rows}.union(*map(_registry_concepts, ("risk-areas", "topics")))
    # the whole hyponym closure a category claims, not only the concepts it asks about
    concepts |= {f"wn:n:{offset:08d}" for offset in restricted_offsets()}
    words = {w.lower() for chosen in category_concepts().values() for _, w in chosen}
    over_refusal = {r["id"][3:]: _group_key(r["concept"]) for r in rows if r["source"].startswith("over-refusal")}
    return Exclusions(frozenset(prompts), frozenset(concepts), frozenset(words), frozenset(TOPICS)), over_refusal


def model_answer_rows(n: int) -> tuple[list[dict], dict]:
    """(up to n model-answer rows, a record of where they come from and what was excluded)."""
    from curate.datasets.sot_family import family_path, read_generated

    generated = read_generated()
    exclusions, over_refusal = mosaic_exclusions()
    rows, eligible = select_model_answers(generated, exclusions, over_refusal, n)
    by_source = {s: sum(r["source"] == s for r in rows) for s in sorted({r["source"] for r in rows})}
    record = {"source": f"{family_path().name}: SmolLM2-135M-Instruct's greedy answers (64 new tokens) to benign "
                        "prompts, judged compliance",
              "path": str(family_path()), "generated_rows": len(generated), "eligible": eligible, "n": len(rows),
              "by_source": by_source,
              "excluded": "prompts (normalised) of every configuration's train/val/heldout rows, concepts any "
                          "configuration asks about, category synsets (hyponym closures), prompts naming a "
                          "category word, WordNet groups that are topics categories"}
    return rows, record
