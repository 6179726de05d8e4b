"""WordNet 3.0 noun reader: frequent synsets (by sense-tagged counts) with head word, gloss, examples, topic."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

from curate.errors import MissingDependencyError

__all__ = ["wordnet_dir", "read_noun_synsets", "parse_gloss", "NOUN_TOPICS"]

# WordNet's fixed lexicographer file numbers for nouns (lexnames 03-28), group name without "noun."
NOUN_TOPICS = {
    3: "tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition", 10: "communication",
    11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location", 16: "motive", 17: "object", 18: "person",
    19: "phenomenon", 20: "plant", 21: "possession", 22: "process", 23: "quantity", 24: "relation", 25: "shape",
    26: "state", 27: "substance", 28: "time",
}


def wordnet_dir() -> Path:
    """Folder of the WordNet text database ($WORDNET_DIR or /usr/share/wordnet)."""
    folder = Path(os.environ.get("WORDNET_DIR", "/usr/share/wordnet"))
    for name in ("data.noun", "index.sense"):
        if not (folder / name).exists():
            raise MissingDependencyError(
                f"WordNet file '{folder / name}' not found: apt-get install wordnet-base wordnet-sense-index "
                "(or set WORDNET_DIR to a folder holding data.noun and index.sense)"
            )
    return folder


def _synset_counts(folder: Path) -> dict[int, int]:
    """Sum of sense-tagged corpus counts per noun synset offset (index.sense: key offset sense_no tag_cnt)."""
    counts: dict[int, int] = defaultdict(int)
    with open(folder / "index.sense", encoding="utf-8") as lines:
        for line in lines:
            key, offset, _, tag_count = line.split()
            if key.split("%")[1].startswith("1:"):
                counts[int(offset)] += int(tag_count)
    return counts


def parse_gloss(gloss: str) -> tuple[str, list[str]]:
    """Definition text and quoted example sentences of a data.noun gloss."""
    examples = re.findall(r'"([^"]+)"', gloss)
    definition = re.sub(r'"[^"]*"', "", gloss).strip().strip(";").strip()
    definition = re.sub(r"\s*;\s*$", "", re.sub(r"(;\s*)+", "; ", definition))
    return definition, [e.strip() for e in examples if e.strip()]


def read_noun_synsets(min_count: int = 1) -> list[dict]:
    """Noun synsets with ≥ min_count tagged uses: {offset, word, topic, definition, examples, count}, file order."""
    synsets = []
    for fields, gloss, count in iter_noun_lines():
        if count < min_count:
            continue
        definition, examples = parse_gloss(gloss)
        word = re.sub(r"\(\w+\)$", "", fields[4]).replace("_", " ")
        synsets.append(
            {"offset": int(fields[0]), "word": word, "topic": NOUN_TOPICS.get(int(fields[1]), "tops"),
             "definition": definition, "examples": examples, "count": count}
        )
    return synsets


def iter_noun_lines():
    """(header fields, gloss, sense-tagged count) of every data.noun synset line, in file order."""
    folder = wordnet_dir()
    counts = _synset_counts(folder)
    with open(folder / "data.noun", encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("  ") or "|" not in line:
                continue  # licence header
            head, gloss = line.split("|", 1)
            fields = head.split()
            yield fields, gloss, counts.get(int(fields[0]), 0)
