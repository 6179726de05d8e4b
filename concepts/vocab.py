"""Concept vocabularies: frequent WordNet noun synsets (one per lemma), or a user's concept list file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from curate.errors import InputError
from curate.io import read_table

__all__ = ["wordnet_vocabulary", "read_concept_file", "load_vocabulary", "VOCAB_COLUMNS"]

VOCAB_COLUMNS = ("concept_id", "name", "synset", "gloss", "group")


def _noun_synsets() -> list[dict]:
    """Every noun synset: offset, lemmas, topic, definition, sense-tagged count (file order)."""
    from curate.datasets.wordnet import NOUN_TOPICS, iter_noun_lines, parse_gloss

    synsets = []
    for fields, gloss, count in iter_noun_lines():
        n_words = int(fields[3], 16)
        lemmas = [re.sub(r"\(\w+\)$", "", w).replace("_", " ") for w in fields[4:4 + 2 * n_words:2]]
        definition, _ = parse_gloss(gloss)
        synsets.append({"offset": int(fields[0]), "lemmas": lemmas, "topic": NOUN_TOPICS.get(int(fields[1]), "tops"),
                        "definition": definition, "count": count})
    return synsets


def wordnet_vocabulary(num_concepts: int = 15_000):
    """The `num_concepts` most frequent noun synsets, ranked by summed sense-tagged counts (index.sense),
    ties by lemma count then file order; a synset whose head lemma (case-folded) was already taken is skipped,
    so every concept has a distinct name. Columns: VOCAB_COLUMNS + count."""
    import polars as pl

    if num_concepts < 1:
        raise InputError(f"--num-concepts {num_concepts}: must be at least 1")
    synsets = sorted(_noun_synsets(), key=lambda s: (-s["count"], -len(s["lemmas"]), s["offset"]))
    rows, seen = [], set()
    for synset in synsets:
        name = synset["lemmas"][0]
        key = name.casefold()
        if key in seen or len(name) < 2:
            continue
        seen.add(key)
        rows.append({"concept_id": f"wn-n{synset['offset']:08d}", "name": name,
                     "synset": f"n{synset['offset']:08d}", "gloss": synset["definition"],
                     "group": synset["topic"], "count": synset["count"]})
        if len(rows) == num_concepts:
            break
    return pl.DataFrame(rows)


def _jsonl_rows(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise InputError(f"--concepts {path} line {number}: malformed JSON ({err.msg}); fix that line") from err
    return rows


def _file_rows(path: Path) -> list[dict]:
    import polars as pl

    suffix = path.suffix.lower()
    if suffix == ".txt":
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, gloss = line.partition("\t")
                rows.append({"name": name.strip(), "gloss": gloss.strip()})
        return rows
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(path)
    if suffix == ".parquet":
        return pl.from_arrow(read_table(path, what="a concept list with a `name` column")).to_dicts()
    if suffix == ".csv":
        return pl.read_csv(path, infer_schema_length=0).to_dicts()
    raise InputError(f"--concepts {path}: unsupported file type '{suffix}'; use .txt (one name per line, "
                     "optional TAB gloss), .jsonl, .csv or .parquet with a `name` column")


def read_concept_file(path: str | Path, num_concepts: int | None = None):
    """A user's concept list: `name` (required), optional `gloss`, `group`, `concept_id`; duplicates dropped."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--concepts {path}: file not found; give 'wordnet' or a concept list file")
    rows = _file_rows(path)
    if rows and "name" not in rows[0]:
        raise InputError(f"--concepts {path}: no `name` field (fields: {', '.join(rows[0])}); add a name column")
    out, seen = [], set()
    for k, row in enumerate(rows):
        name = str(row.get("name") or "").strip()
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        out.append({"concept_id": str(row.get("concept_id") or f"c{k:06d}"), "name": name, "synset": "",
                    "gloss": str(row.get("gloss") or ""), "group": str(row.get("group") or "user"), "count": 0})
    if not out:
        raise InputError(f"--concepts {path}: the concept list is empty; put one concept name per line")
    frame = pl.DataFrame(out)
    return frame.head(num_concepts) if num_concepts else frame


def load_vocabulary(spec: str, num_concepts: int):
    """'wordnet' or a concept list file → the concept table (VOCAB_COLUMNS + count), rank order."""
    if spec == "wordnet":
        return wordnet_vocabulary(num_concepts)
    return read_concept_file(spec, num_concepts)
