"""CAST training on a tiny Llama: skipped heads bit-identical, others trained, selections, budgets, bad input."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from curate.errors import ConfigError, InputError
from train.cast.conflict_map import ConflictMap, select_heads
from train.cast.heads import head_slices
from train.cast.run import CastConfig, check_map_matches, fit_cast, frozen_parameter_count

ROWS = [{"prompt": f"question {i}", "response": f"answer number {i}"} for i in range(6)]


def _cfg(tmp_path, **kw) -> CastConfig:
    base = dict(data="unused", out=tmp_path, conflict_map=tmp_path, lr=1e-2, batch_size=2, max_length=48,
                max_steps=3, weight_decay=0.1, seed=0)
    return CastConfig(**{**base, **kw})


def _map(scores: list[float], layers: int = 2, heads: int = 4, **manifest) -> ConflictMap:
    grid = [(layer, h) for layer in range(layers) for h in range(heads)]
    score = np.asarray(scores, dtype=float)
    cols = {"layer": np.array([g[0] for g in grid]), "head": np.array([g[1] for g in grid]), "score": score,
            "conflict": score, "sensitivity": score, "rank": np.argsort(np.argsort(-score)) + 1}
    return ConflictMap(cols, {"layers": layers, "heads": heads, **manifest})


def _slice(t: torch.Tensor, s) -> torch.Tensor:
    return t.narrow(s.dim, s.start, s.stop - s.start)


def test_skipped_heads_identical_others_changed(tiny_llama, char_tokenizer, tmp_path):
    before = {n: p.detach().clone() for n, p in tiny_llama.named_parameters()}
    skipped = [(0, 1), (1, 2)]
    metrics = fit_cast(tiny_llama, char_tokenizer, ROWS, _cfg(tmp_path), skipped)
    after = dict(tiny_llama.named_parameters())
    slices = head_slices(tiny_llama)
    for s in slices:
        same = torch.equal(_slice(after[s.name], s), _slice(before[s.name], s))
        if (s.layer, s.head) in skipped:
            assert same, f"skipped head {s.layer}.{s.head} changed in {s.name}"
        elif "q_proj" in s.name or "o_proj" in s.name:
            assert not same, f"trained head {s.layer}.{s.head} did not change in {s.name}"
    # attention-only: MLPs, norms and embeddings untouched
    for name in before:
        if "self_attn" not in name:
            assert torch.equal(after[name], before[name]), name
    assert metrics["skipped_heads"] == [[0, 1], [1, 2]]
    # hidden 32, 4 heads -> head_dim 8; a head owns 8 q rows + 8 o columns (32 wide) + its group's 8 k and 8 v rows
    assert metrics["frozen_params"] == 2 * 4 * 8 * 32
    assert metrics["updated_params"] == metrics["trainable_params"] - metrics["frozen_params"]


def test_train_mlp_and_full_tuning(tiny_llama, char_tokenizer, tmp_path):
    model = copy.deepcopy(tiny_llama)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    metrics = fit_cast(model, char_tokenizer, ROWS, _cfg(tmp_path, train_mlp=True), [])
    after = dict(model.named_parameters())
    assert not torch.equal(after["model.layers.0.mlp.up_proj.weight"], before["model.layers.0.mlp.up_proj.weight"])
    assert torch.equal(after["model.embed_tokens.weight"], before["model.embed_tokens.weight"])
    assert metrics["frozen_params"] == 0 and metrics["skipped_heads"] == []


def test_gqa_shared_rows_count_once(tiny_llama):
    slices = head_slices(tiny_llama)
    group = [s for s in slices if s.layer == 0 and s.head in (0, 1)]  # heads 0 and 1 share KV group 0
    one = [s for s in slices if (s.layer, s.head) == (0, 0)]
    assert frozen_parameter_count(tiny_llama, one) == 4 * 8 * 32
    assert frozen_parameter_count(tiny_llama, group) == (2 * 2 + 2) * 8 * 32


def test_selections_are_budget_matched():
    cmap = _map([0.1, 0.9, 0.5, 0.3, 0.8, 0.2, 0.7, 0.4])
    assert select_heads(cmap, 0.25, "conflict") == [(0, 1), (1, 0)]
    assert select_heads(cmap, 0.25, "low-conflict") == [(0, 0), (1, 1)]
    rand = select_heads(cmap, 0.25, "random", seed=3)
    assert len(rand) == 2 and rand == select_heads(cmap, 0.25, "random", seed=3)
    assert select_heads(cmap, 0.25, "none") == []
    with pytest.raises(ConfigError, match="--skip-fraction 1.0"):
        select_heads(cmap, 1.0, "conflict")


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_skip_fraction_outside_unit_interval(tmp_path, fraction):
    with pytest.raises(ConfigError, match=f"--skip-fraction {fraction}"):
        _cfg(tmp_path, skip_fraction=fraction)


def test_lora_and_train_last_rejected(tmp_path):
    with pytest.raises(ConfigError, match="--lora 4"):
        _cfg(tmp_path, lora=4)
    with pytest.raises(ConfigError, match="--train-last 2"):
        _cfg(tmp_path, train_last=2)


def test_map_from_another_model(tiny_llama):
    cmap = _map(list(range(8)), model="other", model_fingerprint="aaaa")
    with pytest.raises(InputError, match="fingerprint aaaa.*--model mine has fingerprint bbbb"):
        check_map_matches(cmap, tiny_llama, "mine", "bbbb")
    wrong_shape = _map(list(range(6)), layers=2, heads=3, model_fingerprint="bbbb")
    with pytest.raises(InputError, match="2 x 3 heads"):
        check_map_matches(wrong_shape, tiny_llama, "mine", "bbbb")
    check_map_matches(_map(list(range(8)), model_fingerprint="bbbb"), tiny_llama, "mine", "bbbb")


def test_model_without_attention_projections(tiny_bert, char_tokenizer, tmp_path):
    with pytest.raises(InputError, match="q_proj/k_proj/v_proj/o_proj"):
        fit_cast(tiny_bert, char_tokenizer, ROWS, _cfg(tmp_path), [])
