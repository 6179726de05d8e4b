"""Concept labels: desirable / undesirable / neutral.

Three sources, strongest first: a user labels file; WordNet seed trees (every noun in the hyponym tree of a harm
root such as weapon, poison, drug of abuse, crime, torture, terrorist is undesirable, every noun under a benign
counterpart such as safety, rescue, kindness, police is desirable); and, for the remaining concepts, a seed
lexicon of harm categories plus MiniLM similarity to the registry's real harmful prompts.

(The registry's benign prompts are no contrast here: benign-qa asks about WordNet nouns by name, so every
WordNet concept is close to some benign prompt.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.errors import InputError

__all__ = ["HARM_LEXICON", "DESIRABLE_LEXICON", "HARM_TREES", "BENIGN_TREES", "EXCLUDED_TREES", "SeedTree",
           "LabelScores", "score_concepts", "assign_labels", "read_label_file"]

# Harm categories (Do-Not-Answer / AdvBench areas) as short descriptions: what MiniLM compares concepts with.
HARM_LEXICON = {
    "violence": ["violence", "murder", "assault", "killing a person", "torture", "massacre", "stabbing"],
    "weapons": ["weapon", "firearm", "gun", "explosive", "bomb", "ammunition", "grenade", "poison"],
    "drugs": ["illegal drug", "narcotic", "cocaine", "heroin", "methamphetamine", "drug trafficking"],
    "crime": ["crime", "theft", "robbery", "fraud", "scam", "burglary", "money laundering", "kidnapping",
              "smuggling", "extortion", "counterfeiting"],
    "cyber": ["hacking", "malware", "computer virus", "phishing", "identity theft", "ransomware"],
    "hate": ["hate speech", "racism", "racial slur", "discrimination", "bigotry", "genocide", "harassment"],
    "self_harm": ["suicide", "self-harm", "overdose", "eating disorder"],
    "sexual": ["pornography", "sexual abuse", "rape", "prostitution", "child abuse"],
    "terror": ["terrorism", "terrorist attack", "extremism", "hostage"],
    "deception": ["misinformation", "propaganda", "lie", "deception", "cheating", "blackmail"],
}
DESIRABLE_LEXICON = ["safety", "protection", "help", "kindness", "honesty", "respect", "consent", "privacy",
                     "health care", "education", "law", "ethics", "compassion", "cooperation", "refusal",
                     "caution", "security", "rescue", "medicine", "peace", "charity", "fairness"]


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


class LabelScores(dict):
    """{harm_lexicon, harm_category, desirable_lexicon, harm_data (mean top-k cosine to harmful prompts)}, each [K]."""


def _top_mean(sim: np.ndarray, k: int) -> np.ndarray:
    k = min(k, sim.shape[1])
    return np.sort(sim, axis=1)[:, -k:].mean(1)


def score_concepts(concept_vectors: np.ndarray, embed_texts, harmful: list[str], k: int = 10,
                   synsets: list[str] | None = None) -> LabelScores:
    """Scores of unit concept embeddings [K, d]; `embed_texts(list[str]) -> [n, d]` unit rows (MiniLM).

    `synsets` (["n04565375", ...] or "" per concept) adds seed_label [K] ("undesirable" / "desirable" / "" for
    concepts in no seed tree), and a seed concept's harm_category is its tree's category."""
    categories = [c for c, words in HARM_LEXICON.items() for _ in words]
    harm = embed_texts([w for words in HARM_LEXICON.values() for w in words])
    good = embed_texts(DESIRABLE_LEXICON)
    sim_harm = concept_vectors @ harm.T
    scores = LabelScores(harm_lexicon=sim_harm.max(1), harm_category=np.array(categories)[sim_harm.argmax(1)],
                         desirable_lexicon=(concept_vectors @ good.T).max(1))
    if harmful:
        scores["harm_data"] = _top_mean(concept_vectors @ embed_texts(harmful).T, k)
    else:
        scores["harm_data"] = np.zeros(len(concept_vectors))
    if synsets is not None:
        scores.update(_seed_scores(synsets, scores["harm_category"]))
    return scores


def _seed_scores(synsets: list[str], lexicon_category: np.ndarray) -> dict[str, np.ndarray]:
    from concepts.vocab import wordnet_seed_labels

    seeds = wordnet_seed_labels() if any(synsets) else {}
    found = [seeds.get(s, ("", "")) for s in synsets]
    label = np.array([lab for lab, _ in found], dtype=object).astype(str)
    category = np.where(label == "undesirable", np.array([c for _, c in found], dtype=object), lexicon_category)
    return {"seed_label": label, "harm_category": category.astype(str)}


def assign_labels(scores: LabelScores, lexicon_threshold: float = 0.6, data_threshold: float = 0.5,
                  desirable_threshold: float = 0.6) -> np.ndarray:
    """undesirable: cosine ≥ lexicon_threshold with a harm-lexicon term, or ≥ lexicon_threshold − 0.15 with
    one and a mean top-10 cosine ≥ data_threshold with the real harmful prompts; desirable: cosine ≥
    desirable_threshold with a desirable term and not undesirable; neutral otherwise. A concept in a WordNet seed
    tree (scores["seed_label"] non-empty) takes its tree's label whatever the similarities say."""
    harm = scores["harm_lexicon"]
    undesirable = (harm >= lexicon_threshold) | ((scores["harm_data"] >= data_threshold)
                                                & (harm >= lexicon_threshold - 0.15))
    desirable = ~undesirable & (scores["desirable_lexicon"] >= desirable_threshold)
    labels = np.where(undesirable, "undesirable", np.where(desirable, "desirable", "neutral"))
    seed = np.asarray(scores.get("seed_label", np.full(len(harm), "")), dtype=str)
    return np.where(seed != "", seed, labels)


def read_label_file(path: str | Path) -> dict[str, str]:
    """{concept name or concept_id: label} from a CSV/JSONL/Parquet with `label` and `name` or `concept_id`."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--labels {path}: file not found")
    reader = {".csv": pl.read_csv, ".parquet": pl.read_parquet, ".jsonl": pl.read_ndjson}.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"--labels {path}: use .csv, .jsonl or .parquet with columns name (or concept_id), label")
    frame = reader(path)
    key = "concept_id" if "concept_id" in frame.columns else "name" if "name" in frame.columns else None
    if key is None or "label" not in frame.columns:
        raise InputError(f"--labels {path}: needs a `label` column and `name` or `concept_id` "
                         f"(columns: {', '.join(frame.columns)})")
    bad = sorted(set(frame["label"].to_list()) - {"desirable", "undesirable", "neutral"})
    if bad:
        raise InputError(f"--labels {path}: labels {bad} are not desirable / undesirable / neutral")
    return dict(zip(frame[key].cast(pl.Utf8).to_list(), frame["label"].to_list()))
