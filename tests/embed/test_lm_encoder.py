"""Causal-LM encoder: hidden_states[layer] exactly, early stop, pooling, batch invariance, per-token rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curate.errors import ConfigError
from embed import EmbedConfig, read_embeddings, run
from embed.encoders.lm import CausalLMEncoder, resolve_layer

TEXTS = ["hi", "a somewhat longer text here", "mid length", "x", "the longest text of them all, by a margin"]


def reference(model, tokenizer, text, layer):
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids, output_hidden_states=True).hidden_states[layer][0].numpy()


@pytest.mark.parametrize("layer", [0, 1, 2, -1])
def test_layers_and_pooling_match_unbatched_hidden_states(tiny_llama, char_tokenizer, layer):
    encoder = CausalLMEncoder(char_tokenizer, tiny_llama, layer=layer, pooling="mean", batch_size=2)
    mean = encoder.encode(TEXTS).vectors
    encoder.pooling = "last"
    last = encoder.encode(TEXTS).vectors
    encoder.pooling = "none"
    tokens = encoder.encode(TEXTS)
    refs = [reference(tiny_llama, char_tokenizer, t, resolve_layer(layer, 2)) for t in TEXTS]
    np.testing.assert_allclose(mean, np.stack([r.mean(0) for r in refs]), atol=1e-5)
    np.testing.assert_allclose(last, np.stack([r[-1] for r in refs]), atol=1e-5)
    assert tokens.token_counts.tolist() == [len(r) for r in refs]
    np.testing.assert_allclose(tokens.vectors, np.concatenate(refs), atol=1e-5)


def test_layer_range_is_checked():
    assert resolve_layer(None, 30) == 15 and resolve_layer(-1, 30) == 30 and resolve_layer(-31, 30) == 0
    with pytest.raises(ConfigError, match=r"--layer 31: the model has 30 layers, so use 0..30"):
        resolve_layer(31, 30)


def test_lm_run_per_token_rows(tmp_path, tiny_lm_model):
    from tests.embed.conftest import sample_records, write_jsonl

    corpus = write_jsonl(tmp_path / "c.jsonl", sample_records(7))
    result = run(EmbedConfig(inputs=(corpus,), out=tmp_path / "tok", model=str(tiny_lm_model), encoder="lm",
                             pooling="none", layer=1, shard_size=4, progress=False))
    back = read_embeddings(tmp_path / "tok")
    assert back.manifest["layer"] == 1 and back.manifest["pooling"] == "none" and not back.manifest["normalized"]
    assert back.vectors.shape == (len(back.ids), 32) and back.manifest["records"] == 7
    starts = np.flatnonzero(back.token_index == 0)
    assert len(starts) == 7 and [back.ids[s] for s in starts] == [f"r{k:04d}" for k in range(7)]
    pooled = run(EmbedConfig(inputs=(corpus,), out=tmp_path / "mean", model=str(tiny_lm_model), encoder="lm",
                             pooling="mean", layer=1, progress=False))
    first = back.vectors[: starts[1]].mean(0)
    np.testing.assert_allclose(pooled.vectors[0], first, atol=1e-5)
    assert result.manifest["rows"] == len(back.ids)
