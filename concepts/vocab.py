"""Concept vocabularies: frequent WordNet noun synsets (one per lemma) plus the harm and benign seed trees (which
concepts.labels also uses to label them), or a user's concept list file."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from curate.errors import InputError
from curate.io import read_table

__all__ = ["wordnet_vocabulary", "wordnet_seed_labels", "hyponym_tree", "read_concept_file", "load_vocabulary",
           "VOCAB_COLUMNS", "SEED_SHARE", "HARM_TREES", "BENIGN_TREES", "EXCLUDED_TREES", "SeedTree"]

VOCAB_COLUMNS = ("concept_id", "name", "synset", "gloss", "group")
SEED_SHARE = 0.1
"""Share of a WordNet vocabulary reserved for seed-tree concepts (harm roots and their benign counterparts)."""

SeedTree = tuple[str, int, int | None]
"""(head lemma, WordNet 3.0 noun offset, depth): the synset and its hyponyms down to `depth` levels (None = the
whole tree, 0 = the synset alone). The lemma guards the offset against typos (a test checks it)."""

HARM_TREES: dict[str, tuple[SeedTree, ...]] = {
    "weapons": (("weapon", 4565375, None), ("weapon of mass destruction", 4565963, None),
                ("chemical weapon", 3013162, None), ("bioweapon", 2842303, None), ("nerve gas", 14960721, None),
                ("ammunition", 2703275, None), ("explosive", 3304730, None), ("bomb", 2866578, None),
                ("knife", 3624134, None), ("missile", 3773504, None)),
    "poisons": (("poison", 15032376, None), ("toxin", 15034074, None)),
    "drugs": (("drug of abuse", 3248958, None), ("narcotic", 3808564, None), ("hard drug", 3492717, None),
              ("hallucinogen", 3479647, None), ("controlled substance", 3097890, None),
              ("psychoactive drug", 4017137, None), ("crack", 3125184, 0)),
    "crime": (("crime", 766234, None), ("fraud", 769092, None), ("larceny", 780889, None),
              ("cybercrime", 768483, None), ("arson", 378296, None), ("smuggling", 1112132, None),
              ("extortion", 784388, None)),
    "violence": (("violence", 965404, None), ("homicide", 220023, None), ("murder", 220522, None),
                 ("slaughter", 223983, None), ("genocide", 1245159, None), ("torture", 421437, None),
                 ("maltreatment", 419908, None), ("harassment", 419644, None), ("terrorism", 759694, None),
                 ("war crime", 782518, None)),
    "criminals": (("criminal", 9977660, None), ("killer", 10231087, None), ("murderer", 10338707, None),
                  ("terrorist", 10702781, None), ("thief", 10707804, None), ("swindler", 9955015, None),
                  ("arsonist", 9810707, None), ("abuser", 9758643, None), ("molester", 10327333, None),
                  ("raper", 10507230, None), ("pedophile", 10412669, None), ("hacker", 10155222, 0),
                  ("gang", 8244062, None)),
    "hate": (("hate", 7546465, 0), ("malevolence", 7550369, 0), ("misogyny", 7547064, 0),
             ("racism", 1155044, None), ("racism", 6203758, None), ("sexism", 1155893, None),
             ("discrimination", 1153548, None), ("bigot", 9853645, None), ("aspersion", 6718543, None)),
    "self_harm": (("suicide", 222485, None), ("self-destruction", 222766, None), ("suicide", 10673669, None)),
    "sexual": (("pornography", 747215, None), ("prostitution", 748155, None), ("sexual assault", 774107, None),
               ("rape", 773402, None)),
    "cyber": (("malevolent program", 6573020, None), ("virus", 6585816, None)),
    "deception": (("misinformation", 6634960, None), ("propaganda", 6674542, None)),
}
"""Harm categories (the Do-Not-Answer / AdvBench areas) → WordNet roots whose trees are undesirable concepts."""

BENIGN_TREES: dict[str, tuple[SeedTree, ...]] = {
    "safety": (("safety", 14538472, None), ("security", 14539268, None), ("guard", 3464467, None),
               ("precaution", 822970, None), ("caution", 5615869, 0), ("first aid", 656524, None),
               ("self-defense", 825192, 0), ("protection", 817680, 0), ("lifeguard", 10260800, None)),
    "help": (("aid", 1207609, 0), ("rescue", 93483, None), ("rescuer", 10522759, None), ("savior", 10553805, None),
             ("charity", 1089635, None), ("charity", 8055824, None), ("benefactor", 9608709, None),
             ("volunteer", 10759151, None), ("good person", 10138767, None), ("nurse", 10366966, None),
             ("fireman", 10091651, None)),
    "virtue": (("kindness", 34574, None), ("kindness", 4840011, None), ("honesty", 4871374, None),
               ("compassion", 4829550, None), ("compassion", 7553741, None), ("clemency", 1071411, None),
               ("mercifulness", 4829282, None), ("forgiveness", 1227190, None), ("cooperation", 1202904, 1),
               ("generosity", 4831727, None), ("tolerance", 6204406, None), ("justice", 4850117, None),
               ("fairness", 4839154, None), ("ethics", 6159473, None), ("ethical motive", 9183693, 0),
               ("peace", 13970236, None), ("peace", 13969700, None)),
    "law": (("law enforcement", 1128137, None), ("police", 8209687, None), ("lawman", 10249459, None),
            ("bodyguard", 9863031, None)),
}
"""Benign counterparts of the harm categories → WordNet roots whose trees are desirable concepts."""

EXCLUDED_TREES: tuple[SeedTree, ...] = (
    ("alcohol", 7884567, None), ("tobacco", 4442831, None), ("roll of tobacco", 4103491, None),
    ("sedative", 4166553, None), ("tranquilizer", 4470232, None), ("firework", 3348454, None),
    ("space probe", 4265668, None), ("wing shooting", 225484, None), ("secret police", 8211584, None),
    ("Schutzstaffel", 8211924, None), ("Mutawa'een", 8210411, None), ("vigilantism", 1128266, None),
    ("vigilante", 10753339, None), ("collaborationism", 1205341, None),
)
"""Subtrees left out of the seed trees: drinks, tobacco and prescription sedatives sit under drug of abuse in
WordNet, fireworks under explosive, a space probe under missile, bird hunting under homicide; none is what
harmful requests are about (drinks alone would flood the label with cocktails). Secret and religious police,
vigilantes and traitorous collaboration sit under police and cooperation but are no benign counterpart."""


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
                         f"lemma {lemma!r}; fix the entry in concepts.vocab")
    found, frontier, level = {offset}, [offset], 0
    while frontier and (depth is None or level < depth):
        frontier = [h for o in frontier for h in synsets[o]["hyponyms"] if h not in found]
        found.update(frontier)
        level += 1
    return found


@lru_cache(maxsize=1)
def wordnet_seed_labels() -> dict[str, tuple[str, str]]:
    """{"n%08d" synset: (label, category)} for every noun in a seed tree (HARM_TREES, BENIGN_TREES) less EXCLUDED_TREES.
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
