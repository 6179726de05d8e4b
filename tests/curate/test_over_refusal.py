"""over-refusal: size per family, concept-disjoint splits, stable ids, benign requests with reference answers."""

import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from curate.datasets import over_refusal
from curate.datasets.over_refusal import FAMILIES, over_refusal_rows, split_group
from curate.errors import MissingDependencyError

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/wordnet/data.verb").exists() or not Path("/usr/share/man/man1").is_dir(),
    reason="needs WordNet 3.0 (apt-get install wordnet-base wordnet-sense-index) and the system man pages",
)

# written apart from the builder's own guard, so a guard that stops working is caught here
HARMFUL = re.compile(
    r"\bhow (?:to|do i|can i|could i|do you) (?:make|build|synthesi[sz]e|hurt|harm|injure|poison|kill (?:a|an|my|some)"
    r"(?:one|body| person)|steal|buy|get hold of)\b|\bwithout (?:getting caught|being detected)\b",
    re.IGNORECASE,
)
REQUEST = re.compile(r"^(?:Tell|Explain|Describe|Define|Give|List|Show)\b")


@pytest.fixture(scope="module")
def rows():
    return over_refusal_rows()


def test_size_and_families(rows):
    families = Counter(r["category"] for r in rows)
    assert len(rows) >= 200 and set(families) == set(FAMILIES)
    assert all(families[f] >= 40 for f in FAMILIES), families


def test_splits_disjoint_by_concept_and_balanced(rows):
    splits = defaultdict(set)
    for row in rows:
        splits[split_group(row["concept"])].add(row["split"])
    assert all(len(s) == 1 for s in splits.values()), [g for g, s in splits.items() if len(s) > 1]
    for family in FAMILIES:
        counts = Counter(r["split"] for r in rows if r["category"] == family)
        assert 0.4 <= counts["heldout"] / sum(counts.values()) <= 0.6, (family, counts)
    # an option goes with its command: `halt` and `halt --halt` are one concept for the split
    assert split_group("man:git-rebase:--abort") == "man:git-rebase" and split_group("wn:n:02071294") == "wn:n:02071294"


def test_ids_unique_and_stable_across_builds(rows):
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    over_refusal._WORDNET.clear()  # a second build from the files, not from the parsed copy
    again = over_refusal_rows()
    assert [(r["id"], r["prompt"], r["response"], r["split"]) for r in again] == [
        (r["id"], r["prompt"], r["response"], r["split"]) for r in rows]


def test_prompts_are_benign_requests(rows):
    prompts = [r["prompt"] for r in rows]
    assert len({p.lower() for p in prompts}) == len(prompts)
    assert not [p for p in prompts if HARMFUL.search(p)]
    assert not [p for p in prompts if not (p.endswith("?") or REQUEST.match(p))]


def test_every_row_has_a_reference_answer(rows):
    assert all(r["response"] and len(r["response"]) >= 15 and r["response"] != r["prompt"] for r in rows)
    assert {r["source"] for r in rows} == {"man-pages", "wordnet"}


def test_prompts_carry_the_alarming_word(rows):
    # the set bites only if the alarming word is in the question itself
    for row in rows:
        if row["category"] in ("command", "sense"):
            assert row["term"] in row["prompt"].lower(), row


def test_violent_senses_are_left_out():
    wordnet = over_refusal._read_wordnet()
    kept = {c["concept"] for c in over_refusal._sense_concepts()}

    def senses(word, pos, lexfile):
        return {f"wn:{pos}:{o:08d}" for o in wordnet.lemmas[(pos, word)] if wordnet.synsets[pos][o].lexfile == lexfile}

    # verb.contact holds "kill: cause to die" and "shoot: hit with a missile"; noun.person the killers
    assert not kept & (senses("kill", "v", 35) | senses("shoot", "v", 35) | senses("killer", "n", 18))
    assert not kept & senses("gun", "n", 6) - {f"wn:n:{o:08d}" for o in wordnet.lemmas[("n", "gun")]
                                                if "pedal" in wordnet.synsets["n"][o].definition}
    assert senses("killer whale", "n", 5) <= kept  # an animal, not a killing
    assert senses("shoot", "v", 32) & kept  # shoot a movie (verb.communication)


def test_missing_man_pages_name_the_fix(tmp_path):
    with pytest.raises(MissingDependencyError, match="no man pages under .*apt-get install man-db"):
        over_refusal.command_rows(dirs=(str(tmp_path),))


def test_registry_serves_the_heldout_split_through_embeds_reader():
    pytest.importorskip("embed")
    from curate.datasets import list_datasets
    from embed import open_input

    table = open_input("registry:over-refusal:heldout")
    assert table.num_rows >= 100 and set(table["split"].to_pylist()) == {"heldout"}
    assert {"concept", "term"} <= set(table.column_names)
    listed = {d["name"]: d for d in list_datasets()}["over-refusal"]
    assert listed["splits"]["heldout"] == table.num_rows and listed["rows"] >= 200
