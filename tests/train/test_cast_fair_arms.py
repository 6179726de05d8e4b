"""The fair CAST bench's arms on a tiny Llama: parameter-matched random skip, LoRA on attention, arm keys."""
from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from bench.cast._arms import Arm, arm_list, frozen_count, head_keys, matched_random_heads
from curate.errors import ConfigError
from train.cast.heads import head_slices
from train.cast.lora import add_lora, lora_parameters, matching_rank
from train.cast.run import frozen_parameter_count

ROWS = [{"prompt": f"question {i}", "response": f"answer number {i}"} for i in range(6)]


def test_fast_frozen_count_equals_the_mask_count(tiny_llama):
    keys, slices = head_keys(tiny_llama), head_slices(tiny_llama)
    for heads in itertools.combinations(sorted(keys), 3):
        own = [s for s in slices if (s.layer, s.head) in heads]
        assert frozen_count(keys, heads) == frozen_parameter_count(tiny_llama, own)


def test_random_skip_matches_casts_frozen_parameters(tiny_llama):
    keys = head_keys(tiny_llama)
    same_group = [(0, 0), (0, 1)]  # one KV group: 2 heads' q/o + one group's k/v
    target = frozen_count(keys, same_group)
    assert target == (2 * 2 + 2) * 8 * 32 < frozen_count(keys, [(0, 0), (0, 2)])
    for seed in range(5):
        heads, frozen = matched_random_heads(keys, 2, target, [seed, 0, 100])
        assert frozen == target and len(heads) == 2
        assert heads[0][0] == heads[1][0] and heads[0][1] // 2 == heads[1][1] // 2
    draws = {tuple(matched_random_heads(keys, 2, target, [seed, 0, 100])[0]) for seed in range(12)}
    assert len(draws) > 1  # seeded, not fixed
    # an impossible target gives the closest draw
    _, closest = matched_random_heads(keys, 2, target - 1, [0, 0, 0])
    assert closest == target


def test_arm_list_and_keys():
    arms = arm_list(["full", "cast", "random", "low-conflict", "lora"], [0.05, 0.1], [0, 1], 3, 0.1)
    assert len(arms) == 2 * (1 + 2 + 2 * 3 + 2 + 1)
    assert arms[0] == Arm("full", 0.0, 0) and arms[0].key == "full-s0"
    assert Arm("random", 0.1, 1, 2).key == "random-rho0.1-d2-s1"
    assert Arm("cast", 0.05, 0).key == "cast-rho0.05-s0"
    assert len({a.key for a in arms}) == len(arms)


def test_lora_starts_as_the_identity_and_merges_exactly(tiny_llama, char_tokenizer):
    from train._loop import fit

    model = copy.deepcopy(tiny_llama)
    ids = torch.randint(3, 100, (2, 12))
    with torch.no_grad():
        before = model(input_ids=ids).logits
    adapters = add_lora(model, rank=2, seed=0)
    # 2 layers x (q 32->32, k 32->16, v 32->16, o 32->32): 2 * (64 + 48 + 48 + 64) per rank
    assert adapters.parameter_count == lora_parameters(tiny_llama, 2) == 2 * 2 * 224
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, before)
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if "lora" not in n}
    metrics = fit(model, char_tokenizer, ROWS, _settings(), trainable=adapters.trainable)
    assert metrics["trainable_params"] == adapters.parameter_count
    for name, p in model.named_parameters():
        if "lora" not in name:
            assert torch.equal(p, weights[name]), name
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
    assert not torch.allclose(adapted, before)
    adapters.merge()
    assert not any("lora" in n for n, _ in model.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, adapted, atol=1e-5, rtol=1e-4)


def _settings():
    from types import SimpleNamespace

    return SimpleNamespace(lr=1e-2, batch_size=2, max_steps=3, max_length=48, seed=0, progress=False)


def test_matching_rank_and_bad_rank(tiny_llama):
    per_rank = lora_parameters(tiny_llama, 1)
    assert matching_rank(tiny_llama, 5 * per_rank + 10) == 5
    assert matching_rank(tiny_llama, 1) == 1
    with pytest.raises(ConfigError, match="--lora-rank 0"):
        add_lora(copy.deepcopy(tiny_llama), 0)


def test_lora_initialisation_is_seeded(tiny_llama):
    a = add_lora(copy.deepcopy(tiny_llama), 2, seed=3).modules[0].lora_A
    b = add_lora(copy.deepcopy(tiny_llama), 2, seed=3).modules[0].lora_A
    c = add_lora(copy.deepcopy(tiny_llama), 2, seed=4).modules[0].lora_A
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert np.abs(a.detach().numpy()).max() <= 1 / np.sqrt(32)


def test_constructed_draw_when_uniform_draws_miss(tiny_llama, monkeypatch):
    import bench.cast._arms

    keys = head_keys(tiny_llama)
    target = frozen_count(keys, [(0, 0), (0, 1), (1, 2), (1, 3)])  # 4 heads in 2 KV groups (the fewest possible)
    monkeypatch.setattr(bench.cast._arms, "MAX_TRIES", 1)
    for seed in range(6):
        heads, frozen = matched_random_heads(keys, 4, target, [seed])
        assert frozen == target == frozen_count(keys, heads) and len(set(heads)) == 4
