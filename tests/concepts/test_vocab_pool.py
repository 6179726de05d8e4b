import json
from pathlib import Path

import polars as pl
import pytest

from concepts.pool import read_pool, wordnet_sentences
from concepts.vocab import read_concept_file, wordnet_vocabulary
from curate.errors import InputError

HAS_WORDNET = Path("/usr/share/wordnet/data.noun").exists()
needs_wordnet = pytest.mark.skipif(not HAS_WORDNET, reason="WordNet data files not installed")


@needs_wordnet
def test_wordnet_vocabulary_is_frequency_ranked_and_deduplicated():
    vocab = wordnet_vocabulary(500)
    assert vocab.height == 500
    assert vocab["name"].str.to_lowercase().n_unique() == 500
    counts = vocab["count"].to_list()
    assert counts == sorted(counts, reverse=True) and counts[0] > 1000
    assert vocab["name"][0] == "person" and vocab["concept_id"][0] == "wn-n00007846"
    assert all(g for g in vocab["gloss"].to_list())


@needs_wordnet
def test_wordnet_sentences_cover_all_parts_of_speech():
    rows = wordnet_sentences()
    assert len(rows) > 150_000
    kinds = {r["id"].split("-")[1][0] for r in rows}
    assert kinds == {"n", "v", "a", "r"}
    assert len({r["id"] for r in rows}) == len(rows)


def test_concept_files(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("# harms\nbomb\tan explosive device\nknife\nBomb\n\n")
    frame = read_concept_file(txt)
    assert frame["name"].to_list() == ["bomb", "knife"] and frame["gloss"][0] == "an explosive device"
    csv = tmp_path / "c.csv"
    csv.write_text("name,group\npoison,harm\nbread,food\n")
    assert read_concept_file(csv, num_concepts=1)["group"].to_list() == ["harm"]


def test_concept_file_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="concept list is empty"):
        read_concept_file(empty)
    with pytest.raises(InputError, match="not found"):
        read_concept_file(tmp_path / "missing.txt")
    bad = tmp_path / "c.jsonl"
    bad.write_text(json.dumps({"word": "x"}) + "\n")
    with pytest.raises(InputError, match="no `name` field"):
        read_concept_file(bad)
    with pytest.raises(InputError, match="unsupported file type '.xml'"):
        (tmp_path / "c.xml").write_text("x")
        read_concept_file(tmp_path / "c.xml")


def test_user_pools(tmp_path):
    (tmp_path / "img").mkdir()
    jsonl = tmp_path / "pool.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [{"image": "img/a.png", "caption": "a dog"},
                                                          {"image": "img/b.png", "caption": " "},
                                                          {"image": "img/c.png", "caption": "a cat"}]))
    pool = read_pool(jsonl)
    assert pool["text"].to_list() == ["a dog", "a cat"]
    assert pool["image"][0] == str(tmp_path / "img" / "a.png")
    parquet = tmp_path / "pool.parquet"
    pl.DataFrame({"id": ["x", "y"], "text": ["one", "two"]}).write_parquet(parquet)
    assert read_pool(parquet)["id"].to_list() == ["x", "y"]


def test_user_pool_errors(tmp_path):
    empty = tmp_path / "empty.parquet"
    pl.DataFrame({"text": [None, ""]}, schema={"text": pl.Utf8}).write_parquet(empty)
    with pytest.raises(InputError, match="the pool is empty"):
        read_pool(empty)
    other = tmp_path / "other.parquet"
    pl.DataFrame({"sentence": ["a"]}).write_parquet(other)
    with pytest.raises(InputError, match="no `caption` or `text` column"):
        read_pool(other)
    dup = tmp_path / "dup.parquet"
    pl.DataFrame({"id": ["a", "a"], "text": ["x", "y"]}).write_parquet(dup)
    with pytest.raises(InputError, match="duplicates"):
        read_pool(dup)
