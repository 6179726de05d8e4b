"""CAST diagnosis on a tiny Llama: replayed ablation equals plain ablation, map columns, scores, outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from train.cast.ablate import ablate_head
from train.cast.diagnose import DiagnoseConfig, diagnose
from train.cast.heads import head_slices
from train.cast.signals import ablation_sensitivity, accumulate_gradients, batch_loss, loss_settings

SAFE = [{"prompt": f"how do I hurt {w}", "response": "I can't help with that."} for w in ("him", "her", "them", "it")]
UTIL = [{"prompt": f"what is {w}", "response": f"{w} is a kind of thing."} for w in ("a cat", "rain", "tea", "salt")]


def _cfg(tmp_path, **kw) -> DiagnoseConfig:
    return DiagnoseConfig(**{"out": tmp_path, "batches": 2, "batch_size": 2, "max_length": 48, **kw})


def test_replayed_ablation_equals_a_full_forward(tiny_llama, char_tokenizer):
    model, settings = tiny_llama, loss_settings(48, None)
    slices = head_slices(model)
    deltas, base = ablation_sensitivity(model, char_tokenizer, [UTIL[:2]], settings, slices)
    with torch.no_grad():
        plain_base = float(batch_loss(model, char_tokenizer, UTIL[:2], settings))
        expected = []
        for layer in range(2):
            for head in range(4):
                with ablate_head(model, layer, head):
                    expected.append(float(batch_loss(model, char_tokenizer, UTIL[:2], settings)) - plain_base)
    assert base == pytest.approx(plain_base, abs=1e-6)
    np.testing.assert_allclose(deltas, expected, atol=1e-5)
    assert np.abs(deltas).max() > 1e-5  # ablation does something
    assert len(model.model.layers) == 2
    assert all(type(block).__name__ == "LlamaDecoderLayer" for block in model.model.layers)


def test_gradients_are_accumulated_means_and_leave_the_model_untouched(tiny_llama, char_tokenizer):
    model, settings = tiny_llama, loss_settings(48, None)
    slices = head_slices(model)
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    g12, loss12 = accumulate_gradients(model, char_tokenizer, [SAFE[:2], SAFE[2:]], settings, slices)
    g1, _ = accumulate_gradients(model, char_tokenizer, [SAFE[:2]], settings, slices)
    g2, _ = accumulate_gradients(model, char_tokenizer, [SAFE[2:]], settings, slices)
    name = slices[0].name
    torch.testing.assert_close(g12[name], (g1[name] + g2[name]) / 2, atol=1e-6, rtol=1e-5)
    assert loss12 > 0 and set(g12) == {s.name for s in slices}
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("sensitivity", ["ablation", "taylor"])
def test_diagnose_columns(tiny_llama, char_tokenizer, tmp_path, sensitivity):
    cols, info = diagnose(tiny_llama, char_tokenizer, SAFE, UTIL, _cfg(tmp_path, sensitivity=sensitivity))
    assert list(zip(cols["layer"], cols["head"])) == [(layer, h) for layer in range(2) for h in range(4)]
    assert sorted(cols["rank"]) == list(range(1, 9))
    assert cols["score"][cols["rank"] == 1][0] == cols["score"].max()
    assert ((cols["conflict"] >= 0) & (cols["conflict"] <= 2)).all()
    assert len(set(np.round(cols["conflict"], 6))) > 1  # heads differ
    if sensitivity == "taylor":
        assert (cols["sensitivity"] >= 0).all()
    assert info["loss_safe"] > 0 and info["loss_util"] > 0


def test_safe_equal_to_util_has_zero_conflict(tiny_llama, char_tokenizer, tmp_path):
    cols, _ = diagnose(tiny_llama, char_tokenizer, UTIL, UTIL, _cfg(tmp_path, sensitivity="taylor"))
    np.testing.assert_allclose(cols["conflict"], 0.0, atol=1e-6)


def test_bad_config(tmp_path):
    from curate.errors import ConfigError

    with pytest.raises(ConfigError, match="--batches 0"):
        _cfg(tmp_path, batches=0)
