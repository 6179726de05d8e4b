"""MOSAIC categories: sizes per category and split, concept-disjoint splits, no leak between classes or splits."""

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from curate.datasets.mosaic_categories import (
    CATEGORIES,
    PHRASINGS,
    PHRASINGS_PER_CONCEPT,
    SPLITS,
    mosaic_category_rows,
    split_rows,
)
from curate.datasets.over_refusal import over_refusal_rows, split_group
from curate.errors import InputError

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/wordnet/data.verb").exists() or not Path("/usr/share/man/man1").is_dir(),
    reason="needs WordNet 3.0 (apt-get install wordnet-base wordnet-sense-index) and the system man pages",
)


@pytest.fixture(scope="module")
def rows():
    return mosaic_category_rows()


def test_five_categories_with_enough_prompts_per_split(rows):
    assert len(CATEGORIES) >= 5
    counts = Counter((r["category"], r["split"]) for r in rows if r["category"])
    for category in CATEGORIES:
        assert counts[(category, "train")] >= 150, (category, counts)
        assert counts[(category, "heldout")] >= 60, (category, counts)
        assert counts[(category, "val")] >= 30, (category, counts)
    neutral = Counter(r["source"].split(":")[0] for r in rows if r["category"] is None)
    assert set(neutral) == {"wordnet", "man-pages", "over-refusal"} and min(neutral.values()) >= 200, neutral


def test_no_concept_in_two_splits_or_two_classes(rows):
    splits, classes = defaultdict(set), defaultdict(set)
    for row in rows:
        splits[split_group(row["concept"])].add(row["split"])
        classes[row["concept"]].add(row["category"])
    assert {s for row in rows for s in [row["split"]]} == set(SPLITS)
    assert all(len(s) == 1 for s in splits.values()), [c for c, s in splits.items() if len(s) > 1][:5]
    assert all(len(c) == 1 for c in classes.values()), [k for k, c in classes.items() if len(c) > 1][:5]


def test_no_word_or_prompt_leaks(rows):
    # the prompt names the word, so a word asked about in two classes or two splits would leak the label
    by_word = defaultdict(set)
    for row in rows:
        if row["source"] == "wordnet":
            by_word[row["term"].lower()].add((row["category"], row["split"]))
    assert all(len(v) == 1 for v in by_word.values()), [w for w, v in by_word.items() if len(v) > 1][:5]
    prompts = [r["prompt"].strip().lower() for r in rows]
    assert len(prompts) == len(set(prompts))
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["response"] for r in rows)


def test_every_concept_asked_in_five_phrasings(rows):
    questions = {q.split("'")[0] for q, _ in PHRASINGS}
    per_concept, per_category = defaultdict(set), defaultdict(set)
    for row in rows:
        if row["category"]:
            opening = row["prompt"].split("'")[0]
            assert opening in questions, row["prompt"]
            per_concept[row["concept"]].add(opening)
            per_category[row["category"]].add(opening)
    assert PHRASINGS_PER_CONCEPT >= 5 and all(len(v) == PHRASINGS_PER_CONCEPT for v in per_concept.values())
    assert all(len(v) >= 5 for v in per_category.values())


def test_over_refusal_heldout_is_never_trained_on(rows):
    original = {f"mc-{r['id']}": r["split"] for r in over_refusal_rows()}
    ours = [r for r in rows if r["source"].startswith("over-refusal")]
    assert ours and all(r["id"] in original for r in ours)
    assert all((original[r["id"]] == "heldout") == (r["split"] == "heldout") for r in ours)
    # over-refusal's drug / medicine / firearm safety questions are category questions here, not neutral
    assert not [r for r in ours if r["source"] == "over-refusal:safety" and r["term"] in {"drug", "firearm"}]


def test_split_rows_fills_shares_by_group():
    rows = [{"id": f"{g}-{i}", "concept": f"wn:n:{g:08d}"} for g in range(100) for i in range(3)]
    splits = split_rows(rows, {"train": 0.6, "heldout": 0.4}, "salt")
    counts = Counter(splits.values())
    assert abs(counts["train"] - 180) <= 3 and abs(counts["heldout"] - 120) <= 3
    assert all(len({splits[f"{g}-{i}"] for i in range(3)}) == 1 for g in range(100))


def test_bad_split_names_the_choices():
    with pytest.raises(InputError, match="use one of train, val, heldout"):
        mosaic_category_rows("test")
