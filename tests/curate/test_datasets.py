"""Dataset registry: source counts, disjoint partitions, determinism, contamination rate."""

from collections import Counter

import pytest

from curate.datasets import load_dataset_table
from curate.datasets._keys import normalize_text
from curate.datasets._registry import build_all_rows
from curate.datasets._store import list_datasets
from curate.errors import InputError


@pytest.fixture(scope="session")
def tables():
    names = ["harmful-prompts", "harmful-dialogues", "refusals", "benign-qa", "safe-anchor", "harmful-reference",
             "contaminated-sft", "contaminated-sft-hard"]
    return {name: load_dataset_table(name).to_pylist() for name in names}


def test_source_counts(tables):
    harmful = tables["harmful-prompts"]
    dna = Counter(r["category"] for r in harmful if r["source"] == "do-not-answer")
    assert sum(dna.values()) == 939 and len(dna) == 5
    assert dna["information_hazard"] == 248 and dna["human_chatbot"] == 117
    assert sum(r["category"] == "advbench" for r in harmful) == 520
    assert len(tables["harmful-dialogues"]) == 400
    assert len(tables["refusals"]) == 169 and {r["label"] for r in tables["refusals"]} == {0, 1}
    assert 6000 <= len(tables["benign-qa"]) <= 10000
    assert {"food", "animal", "artifact", "command"} <= {r["category"] for r in tables["benign-qa"]}


def test_ids_unique_and_columns(tables):
    for name, rows in tables.items():
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), name
        assert all(r["prompt"] and r["source"] and r["split"] in {"train", "heldout"} for r in rows), name


def test_partitions_disjoint(tables):
    def keys(rows):
        return {r["id"] for r in rows}, {normalize_text(r["prompt"]) for r in rows}

    anchors = tables["safe-anchor"] + tables["harmful-reference"]
    heldout = [r for name in ("harmful-prompts", "benign-qa") for r in tables[name] if r["split"] == "heldout"]
    for corpus in ("contaminated-sft", "contaminated-sft-hard"):
        c_ids, c_texts = keys(tables[corpus])
        for other in (anchors, heldout):
            o_ids, o_texts = keys(other)
            assert not c_ids & o_ids and not c_texts & o_texts, corpus
    a_ids, a_texts = keys(anchors)
    h_ids, h_texts = keys(heldout)
    assert not a_ids & h_ids and not a_texts & h_texts
    parts = Counter(r["partition"] for r in tables["benign-qa"])
    assert set(parts) == {"anchor", "corpus", "heldout"}


def test_contamination_rate(tables):
    rows = tables["contaminated-sft"]
    harmful = [r for r in rows if r["is_harmful"]]
    assert len(harmful) == 200 and abs(len(harmful) / len(rows) - 0.05) < 0.005
    hard = tables["contaminated-sft-hard"]
    refusals = [r for r in hard if r["kind"] == "refusal"]
    assert {r["prompt"] for r in refusals} == {r["prompt"] for r in hard if r["kind"] == "harmful"}
    assert len({r["response"] for r in refusals}) >= 12
    kinds = Counter(r["kind"] for r in tables["safe-anchor"])
    assert kinds["refusal"] > 1000 and kinds["benign"] > 1000


def test_build_is_deterministic(tables):
    again = build_all_rows()
    for name, rows in tables.items():
        assert [r["id"] for r in again[name]] == [r["id"] for r in rows], name
        assert [r["response"] for r in again[name]] == [r["response"] for r in rows], name


def test_splits_filter():
    heldout = load_dataset_table("harmful-prompts", "heldout")
    train = load_dataset_table("harmful-prompts", "train")
    assert heldout.num_rows + train.num_rows == 1459 and 200 < heldout.num_rows < 400
    assert set(heldout["split"].to_pylist()) == {"heldout"}


def test_list_reports_rate():
    rows = {r["name"]: r for r in list_datasets()}
    assert rows["contaminated-sft"]["notes"] == "harmful 200/4000 = 5.00%"


def test_bad_name_and_split():
    with pytest.raises(InputError, match="unknown dataset 'nope'; valid names: harmful-prompts"):
        load_dataset_table("nope")
    with pytest.raises(InputError, match="unknown split 'test'"):
        load_dataset_table("benign-qa", "test")
