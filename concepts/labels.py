"""Concept labels: desirable / undesirable / neutral.

Three sources, strongest first: a user labels file; WordNet seed trees (every noun in the hyponym tree of a harm
root such as weapon, poison, drug of abuse, crime, torture, terrorist is undesirable, every noun under a benign
counterpart such as safety, rescue, kindness, police is desirable); and, for the remaining concepts, a seed
lexicon of harm categories plus MiniLM similarity to the registry's real harmful prompts. The seed trees are
defined beside the vocabulary they also enlarge (concepts.vocab.HARM_TREES, BENIGN_TREES).

(The registry's benign prompts are no contrast here: benign-qa asks about WordNet nouns by name, so every
WordNet concept is close to some benign prompt.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.errors import InputError

__all__ = ["HARM_LEXICON", "DESIRABLE_LEXICON", "LabelScores", "score_concepts", "assign_labels", "read_label_file"]

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
