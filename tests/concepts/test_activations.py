import numpy as np
import polars as pl
import pytest
import torch

from concepts.activations import MultiLayerBuilder, MultiLayerEncoder, parse_layers, stimulus_activations
from curate.errors import ConfigError

TEXTS = ["a large bird", "the organ of sight", "x", "a tool for cutting wood", "a written message", "rain"] * 3


def test_parse_layers():
    assert parse_layers("3, 1,3", 4) == [1, 3]
    assert parse_layers("-1", 4) == [4]
    with pytest.raises(ConfigError, match="layer 5 is out of range; the model has 4 decoder layers"):
        parse_layers("1,5", 4)
    with pytest.raises(ConfigError, match="layer 0 is out of range"):
        parse_layers("0", 4)
    with pytest.raises(ConfigError, match="'a' is not an integer"):
        parse_layers("a", 4)
    with pytest.raises(ConfigError, match="--layers is empty"):
        parse_layers(" , ", 4)


def test_multilayer_encoder_equals_block_outputs_mean_after_first_token(tiny_llama, char_tokenizer):
    """Layer L = output of decoder block L−1 (for the last layer: before the final norm, unlike HF's
    hidden_states[-1]), mean over tokens 2..T, texts batched with padding."""
    encoder = MultiLayerEncoder(char_tokenizer, tiny_llama, layers=[1, 2], batch_size=4, max_length=32)
    out = encoder.encode(TEXTS[:6]).vectors
    assert out.shape == (6, 64)
    captured = {}
    handles = [tiny_llama.model.layers[i].register_forward_hook(
        lambda m, a, o, i=i: captured.__setitem__(i, o[0] if isinstance(o, tuple) else o)) for i in (0, 1)]
    try:
        for k, text in enumerate(TEXTS[:6]):
            ids = torch.tensor([char_tokenizer(text)["input_ids"]])
            with torch.no_grad():
                hidden = tiny_llama(input_ids=ids, output_hidden_states=True).hidden_states
            torch.testing.assert_close(captured[0], hidden[1])
            expect = [captured[i][0, 1:].mean(0) if ids.shape[1] > 1 else captured[i][0, 0] for i in (0, 1)]
            np.testing.assert_allclose(out[k], torch.cat(expect).numpy(), atol=1e-5)
    finally:
        for handle in handles:
            handle.remove()


class CrashingBuilder(MultiLayerBuilder):
    """Fails on the second shard, like a killed run."""

    def __call__(self):
        encoder = super().__call__()
        calls = {"n": 0}
        original = encoder.encode

        def encode(items, progress=None):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("simulated crash")
            return original(items, progress)

        encoder.encode = encode
        return encoder


def test_activation_reading_resumes_after_a_crash(tmp_path, tiny_lm_model):
    stimuli = pl.DataFrame({"id": [f"s{k}" for k in range(len(TEXTS))], "text": TEXTS})
    options = dict(model=str(tiny_lm_model), layers=[1, 2], batch_size=4, max_length=32, device="cpu",
                   shard_size=5, progress=False)
    reference = stimulus_activations(stimuli, tmp_path / "ref", **options)
    from embed import EmbedConfig

    config = EmbedConfig(inputs=("unused",), out=tmp_path / "x", model=str(tiny_lm_model), encoder="lm")
    with pytest.raises(RuntimeError, match="simulated crash"):
        stimulus_activations(stimuli, tmp_path / "run", builder=CrashingBuilder(config, (1, 2)), **options)
    shards = sorted((tmp_path / "run").glob("acts-*/part-*.parquet"))
    assert len(shards) == 1  # the first shard survived
    resumed = stimulus_activations(stimuli, tmp_path / "run", **options)
    for layer in (1, 2):
        assert resumed[layer].shape == (len(TEXTS), 32)
        np.testing.assert_allclose(resumed[layer], reference[layer], atol=1e-6)
