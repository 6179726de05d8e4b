"""WordNet seed trees: the harm roots and benign counterparts enter the vocabulary and decide its labels."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from concepts.labels import assign_labels, score_concepts
from concepts.vocab import HARM_TREES, hyponym_tree, wordnet_seed_labels, wordnet_vocabulary
from curate.errors import InputError

needs_wordnet = pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(),
                                   reason="WordNet data files not installed")


@needs_wordnet
def test_a_15k_vocabulary_holds_enough_harm_and_benign_concepts():
    seeds = wordnet_seed_labels()
    vocab = wordnet_vocabulary(15_000)
    assert vocab.height == 15_000 and vocab["name"].str.to_lowercase().n_unique() == 15_000
    labels = Counter(seeds[s][0] for s in vocab["synset"] if s in seeds)
    # the build drops concepts without a close stimulus and merges near-duplicate directions, so the vocabulary
    # keeps a margin over the dictionary's goal of >= 300 undesirable and >= 100 desirable concepts
    assert labels["undesirable"] >= 450 and labels["desirable"] >= 150
    categories = Counter(seeds[s][1] for s in vocab["synset"] if seeds.get(s, ("",))[0] == "undesirable")
    assert set(categories) == set(HARM_TREES)
    without = wordnet_vocabulary(15_000, seed_share=0)
    assert sum(seeds.get(s, ("",))[0] == "undesirable" for s in without["synset"]) < 300  # the trees are needed


@needs_wordnet
def test_seed_trees_follow_wordnet_and_leave_out_the_excluded_subtrees():
    seeds = wordnet_seed_labels()
    weapon = hyponym_tree(("weapon", 4565375, None))
    assert 3467984 in weapon and 4565375 in weapon  # gun sits under weapon
    assert hyponym_tree(("weapon", 4565375, 0)) == {4565375}
    assert seeds["n04565375"] == ("undesirable", "weapons") and seeds["n03467984"][0] == "undesirable"
    assert "n07886849" not in seeds  # beer: under drug of abuse, but alcohol is excluded
    assert seeds["n14538472"] == ("desirable", "safety")
    with pytest.raises(InputError, match="no noun synset 04565375 with lemma 'pistol'"):
        hyponym_tree(("pistol", 4565375, None))


@needs_wordnet
def test_seed_share_and_names():
    seeds = wordnet_seed_labels()
    small = wordnet_vocabulary(500)
    assert small.height == 500 and 0 < sum(s in seeds for s in small["synset"]) <= 50
    counts = small["count"].to_list()
    assert counts == sorted(counts, reverse=True)
    plain = wordnet_vocabulary(500, seed_share=0)
    assert plain["name"].to_list() == wordnet_vocabulary(1000, seed_share=0)["name"].to_list()[:500]
    big = wordnet_vocabulary(15_000)
    crack = big.filter(big["synset"] == "n03125184")  # the drug; 'crack' (a fissure) is more frequent
    assert crack["name"].to_list() == ["crack cocaine"]
    with pytest.raises(InputError, match="seed_share 1.5"):
        wordnet_vocabulary(10, seed_share=1.5)


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@needs_wordnet
def test_seed_labels_win_over_the_similarities():
    def embed_texts(texts):  # every text on one axis: every concept is close to the harm lexicon
        return _unit(np.tile([1.0, 0.0, 0.0], (len(texts), 1)))

    concepts = _unit([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    synsets = ["n14538472", "", "n04565375", ""]  # safety, a user concept, weapon, a user concept
    scores = score_concepts(concepts, embed_texts, [], synsets=synsets)
    assert list(scores["seed_label"]) == ["desirable", "", "undesirable", ""]
    assert scores["harm_category"][2] == "weapons"
    assert list(assign_labels(scores)) == ["desirable", "undesirable", "undesirable", "neutral"]
    plain = score_concepts(concepts, embed_texts, [])
    assert "seed_label" not in plain and assign_labels(plain)[0] == "undesirable"
