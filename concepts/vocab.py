"""Concept vocabularies: frequent WordNet noun synsets (one per lemma) plus the harm and benign seed trees of
concepts.labels, or a user's concept list file."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from concepts.labels import BENIGN_TREES, EXCLUDED_TREES, HARM_TREES, SeedTree
from curate.errors import InputError
from curate.io import read_table

__all__ = ["wordnet_vocabulary", "wordnet_seed_labels", "hyponym_tree", "read_concept_file", "load_vocabulary",
           "VOCAB_COLUMNS", "SEED_SHARE"]

VOCAB_COLUMNS = ("concept_id", "name", "synset", "gloss", "group")
SEED_SHARE = 0.1
"""Share of a WordNet vocabulary reserved for seed-tree concepts (harm roots and their benign counterparts)."""


def _pointers(fields: list[str], n_words: int) -> list[int]:
    """Offsets of a data.noun line's noun hyponyms (pointer symbol '~'; instance hyponyms '~i' are names of
    people and places, left out)."""
    start = 4 + 2 * n_words
    n_pointers = int(fields[start])
    pointers = fields[start + 1:start + 1 + 4 * n_pointers]
    return [int(pointers[k + 1]) for k in range(0, len(pointers), 4) if pointers[k] == "~" and pointers[k + 2] == "n"]


@lru_cache(maxsize=1)
def _noun_synsets() -> tuple[dict, ...]:
    """Every noun synset: offset, lemmas, topic, definition, sense-tagged count, hyponym offsets (file order)."""
    from curate.datasets.wordnet import NOUN_TOPICS, iter_noun_lines, parse_gloss

    synsets = []
    for fields, gloss, count in iter_noun_lines():
        n_words = int(fields[3], 16)
        lemmas = [re.sub(r"\(\w+\)$", "", w).replace("_", " ") for w in fields[4:4 + 2 * n_words:2]]
        definition, _ = parse_gloss(gloss)
        synsets.append({"offset": int(fields[0]), "lemmas": lemmas, "topic": NOUN_TOPICS.get(int(fields[1]), "tops"),
                        "definition": definition, "count": count, "hyponyms": _pointers(fields, n_words)})
    return tuple(synsets)


def _by_offset() -> dict[int, dict]:
    return {s["offset"]: s for s in _noun_synsets()}


def hyponym_tree(root: SeedTree, synsets: dict[int, dict] | None = None) -> set[int]:
    """Offsets of `root` = (lemma, offset, depth) and its hyponyms down to `depth` levels (None: all)."""
    synsets = synsets if synsets is not None else _by_offset()
    lemma, offset, depth = root
    if offset not in synsets or lemma.casefold() not in {w.casefold() for w in synsets[offset]["lemmas"]}:
        raise InputError(f"seed tree ({lemma!r}, {offset}): WordNet 3.0 has no noun synset {offset:08d} with "
                         f"lemma {lemma!r}; fix the entry in concepts.labels")
    found, frontier, level = {offset}, [offset], 0
    while frontier and (depth is None or level < depth):
        frontier = [h for o in frontier for h in synsets[o]["hyponyms"] if h not in found]
        found.update(frontier)
        level += 1
    return found


@lru_cache(maxsize=1)
def wordnet_seed_labels() -> dict[str, tuple[str, str]]:
    """{"n%08d" synset: (label, category)} for every noun in a seed tree of concepts.labels, less EXCLUDED_TREES.
    A synset in both a harm and a benign tree is undesirable (a harm reading is what the label must catch)."""
    synsets = _by_offset()
    excluded = set().union(*(hyponym_tree(t, synsets) for t in EXCLUDED_TREES))
    seeds: dict[str, tuple[str, str]] = {}
    for label, trees in (("desirable", BENIGN_TREES), ("undesirable", HARM_TREES)):
        for category, roots in trees.items():
            for root in roots:
                seeds.update({f"n{o:08d}": (label, category) for o in hyponym_tree(root, synsets) - excluded})
    return seeds


def _concept_row(synset: dict, name: str) -> dict:
    return {"concept_id": f"wn-n{synset['offset']:08d}", "name": name, "synset": f"n{synset['offset']:08d}",
            "gloss": synset["definition"], "group": synset["topic"], "count": synset["count"]}


def _free_name(synset: dict, seen: set[str], any_lemma: bool) -> str | None:
    """The head lemma if not yet taken, else (seed synsets) the first free other lemma: 'crack' the fissure
    comes first, so the drug is named 'crack cocaine'."""
    for name in synset["lemmas"] if any_lemma else synset["lemmas"][:1]:
        if len(name) >= 2 and name.casefold() not in seen:
            return name
    return None


def wordnet_vocabulary(num_concepts: int = 15_000, seed_share: float = SEED_SHARE):
    """`num_concepts` noun synsets: up to round(seed_share · num_concepts) from the seed trees
    (wordnet_seed_labels), the rest the most frequent other synsets. Both are ranked by summed sense-tagged
    counts (index.sense), ties by lemma count then file order, and the table is in that order. A synset whose
    head lemma (case-folded) was already taken is skipped (a seed synset takes its first free lemma instead),
    so every concept has a distinct name; unused seed places go to frequent synsets.
    Columns: VOCAB_COLUMNS + count."""
    import polars as pl

    if num_concepts < 1:
        raise InputError(f"--num-concepts {num_concepts}: must be at least 1")
    if not 0 <= seed_share <= 1:
        raise InputError(f"seed_share {seed_share}: a share lies in [0, 1]")
    seeds = wordnet_seed_labels() if seed_share > 0 else {}
    ranked = sorted(_noun_synsets(), key=lambda s: (-s["count"], -len(s["lemmas"]), s["offset"]))
    seed_places = round(seed_share * num_concepts)
    picked, spare, seen, n_seed = [], [], set(), 0
    for rank, synset in enumerate(ranked):
        is_seed = f"n{synset['offset']:08d}" in seeds
        if is_seed and n_seed >= seed_places:
            is_seed = False  # over the seed share: competes as an ordinary synset
        name = _free_name(synset, seen, any_lemma=is_seed)
        if name is None:
            continue
        if not is_seed and len(picked) - n_seed >= num_concepts - seed_places:
            spare.append((rank, synset))
            continue
        seen.add(name.casefold())
        picked.append((rank, _concept_row(synset, name)))
        n_seed += is_seed
    for rank, synset in spare:  # seed places left over: the next frequent synsets
        if len(picked) >= num_concepts:
            break
        name = _free_name(synset, seen, any_lemma=False)
        if name is not None:
            seen.add(name.casefold())
            picked.append((rank, _concept_row(synset, name)))
    return pl.DataFrame([row for _, row in sorted(picked, key=lambda p: p[0])][:num_concepts])


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
