"""Readers: every format gives the same table, in streaming chunks; registry specs go through curate.datasets."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from embed import open_input
from embed.readers import estimate_rows, expand_inputs, input_fingerprint, iter_chunks
from embed.records import RowErrors
from tests.embed.conftest import sample_records, write_jsonl


@pytest.fixture
def table():
    return pa.Table.from_pylist([{k: v for k, v in r.items()} for r in sample_records(37)])


def _same(a: pa.Table, b: pa.Table) -> None:
    assert a.column("id").to_pylist() == b.column("id").to_pylist()
    assert a.column("prompt").to_pylist() == b.column("prompt").to_pylist()
    assert a.column("response").to_pylist() == b.column("response").to_pylist()


def test_formats_read_alike(tmp_path, table):
    import datasets

    write_jsonl(tmp_path / "t.jsonl", table.to_pylist())
    pq.write_table(table, tmp_path / "t.parquet")
    pcsv.write_csv(table, tmp_path / "t.csv")
    (tmp_path / "arr.json").write_text(json.dumps(table.to_pylist()))
    datasets.Dataset(table).save_to_disk(str(tmp_path / "hf"))
    for spec in ("t.jsonl", "t.parquet", "t.csv", "arr.json", "hf"):
        got = open_input(str(tmp_path / spec))
        if spec == "t.csv":  # CSV has no null: an empty cell reads back as empty text
            assert got.column("response").to_pylist()[0] in ("", None)
            continue
        _same(got, table)


def test_glob_concatenates_in_sorted_order(tmp_path, table):
    pq.write_table(table.slice(20), tmp_path / "b.parquet")
    pq.write_table(table.slice(0, 20), tmp_path / "a.parquet")
    sources = expand_inputs(str(tmp_path / "*.parquet"))
    assert [s.path.split("/")[-1] for s in sources] == ["a.parquet", "b.parquet"]
    _same(open_input(str(tmp_path / "*.parquet")), table)


def test_chunks_are_bounded_and_numbered(tmp_path, table):
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in table.to_pylist()[:5]) + "\n\n"
                    + "\n".join(json.dumps(r) for r in table.to_pylist()[5:]) + "\n")
    chunks = list(iter_chunks(expand_inputs(str(path))[0], 4, RowErrors()))
    assert max(c.table.num_rows for c in chunks) == 4
    where = [w for c in chunks for w in c.where]
    assert where[:6] == [1, 2, 3, 4, 5, 7]  # the blank line 6 is not a record
    assert chunks[1].locate(1).endswith("t.jsonl line 7")
    assert estimate_rows(expand_inputs(str(path))[0]) == 38


def test_registry_spec_uses_curate_datasets(monkeypatch, table):
    import curate.datasets
    from embed import formats as _formats

    calls = []

    def fake(name, split="all"):
        calls.append((name, split))
        return table

    _formats._registry_table_cached.cache_clear()
    monkeypatch.setattr(curate.datasets, "load_dataset_table", fake)
    _same(open_input("registry:benign-qa:train"), table)
    assert calls == [("benign-qa", "train")]
    _formats._registry_table_cached.cache_clear()


def test_fingerprint_follows_content(tmp_path, table):
    a = write_jsonl(tmp_path / "a.jsonl", table.to_pylist())
    b = write_jsonl(tmp_path / "b" / "a.jsonl" if (tmp_path / "b").mkdir() is None else "", table.to_pylist())
    same = input_fingerprint(expand_inputs(a)) == input_fingerprint(expand_inputs(b))
    write_jsonl(tmp_path / "b" / "a.jsonl", table.to_pylist()[1:])
    assert same and input_fingerprint(expand_inputs(a)) != input_fingerprint(expand_inputs(b))
