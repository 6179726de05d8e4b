"""End to end with the text encoder on a tiny BERT: shards, manifest, ids, and equality with a plain forward pass."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from embed import EmbedConfig, iter_embedding_shards, open_input, read_embeddings, record_ids, render_texts, run


def reference_vectors(model_dir, texts, max_length=256):
    """One text at a time, no padding: masked mean pooling + L2 norm written out plainly."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**ids).last_hidden_state[0]
            rows.append(torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy())
    return np.stack(rows)


def test_text_run_matches_unbatched_reference(tmp_path, corpus, tiny_text_model):
    out = tmp_path / "emb"
    config = EmbedConfig(inputs=(corpus,), out=out, model=str(tiny_text_model), batch_size=8, shard_size=20,
                         max_length=40, progress=False)
    result = run(config)
    table = open_input(corpus)
    assert result.ids == record_ids(table) == [f"r{k:04d}" for k in range(53)]
    expected = reference_vectors(tiny_text_model, render_texts(table, config.template), max_length=40)
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["dim"] == 32 and manifest["normalized"]
    assert [s["rows"] for s in manifest["shards"]] == [20, 20, 13]
    assert all(set(s["timings"]) == {"read_s", "encode_s", "write_s"} for s in manifest["shards"])
    shard = pq.read_table(out / "part-00000.parquet")
    assert str(shard.schema.field("embedding").type) == "fixed_size_list<element: float>[32]"
    assert [len(ids) for ids, _ in iter_embedding_shards(out)] == [20, 20, 13]
    assert (out / "embed_config.json").exists() and not list(out.glob(".*tmp*"))


def test_float16_storage_and_read_back(tmp_path, corpus, tiny_text_model):
    a = run(EmbedConfig(inputs=(corpus,), out=tmp_path / "a", model=str(tiny_text_model), progress=False))
    b = run(EmbedConfig(inputs=(corpus,), out=tmp_path / "b", model=str(tiny_text_model), dtype="float16",
                        progress=False))
    assert "halffloat" in str(pq.read_table(tmp_path / "b" / "part-00000.parquet").schema.field("embedding").type)
    assert b.vectors.dtype == np.float32
    np.testing.assert_allclose(a.vectors, b.vectors, atol=2e-3)
    assert read_embeddings(tmp_path / "a").ids == a.ids


def test_content_hash_ids_are_stable_and_ignore_row_order(tmp_path, tiny_text_model):
    from tests.embed.conftest import sample_records, write_jsonl

    rows = sample_records(10, with_ids=False)
    first = write_jsonl(tmp_path / "a.jsonl", rows)
    second = write_jsonl(tmp_path / "b.jsonl", rows[::-1])
    ids_a = record_ids(open_input(first))
    ids_b = record_ids(open_input(second))
    assert ids_a == ids_b[::-1] and len(set(ids_a)) == 10
    assert all(len(i) == 16 for i in ids_a)
    # a null response hashes like an absent response column
    prompt_only = write_jsonl(tmp_path / "c.jsonl", [{"prompt": r["prompt"]} for r in rows])
    nulls = write_jsonl(tmp_path / "d.jsonl", [{"prompt": r["prompt"], "response": None} for r in rows])
    assert record_ids(open_input(prompt_only)) == record_ids(open_input(nulls))


@pytest.mark.parametrize("template, expected", [
    ("{prompt}\n{response}", "hi\n"),
    ("Q: {prompt} A: {response} [{category}]", "Q: hi A:  [greet]"),
])
def test_render_texts(template, expected):
    import pyarrow as pa

    table = pa.table({"prompt": ["hi"], "response": pa.array([None], pa.string()), "category": ["greet"]})
    assert render_texts(table, template) == [expected]
