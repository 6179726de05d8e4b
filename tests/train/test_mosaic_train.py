"""MOSAIC training on a tiny model: frozen backbone, losses, KL reference, incremental expansion, CLI, bad input."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from curate.errors import ConfigError, InputError
from curate.lm.chat import tokenize_pairs
from train.mosaic import MosaicConfig, run
from train.mosaic.loss import mosaic_batch_loss, token_kl
from train.mosaic.tokens import ControlTokens

ROWS = ([{"prompt": f"cook {w}", "category": "food", "response": None} for w in ("rice", "eggs", "soup", "pie")]
        + [{"prompt": f"pet {w}", "category": "animal", "response": None} for w in ("cat", "dog", "owl")]
        + [{"prompt": f"fix {w}", "category": "tools", "response": None} for w in ("saw", "nail")]
        + [{"prompt": f"what is {w}", "category": None, "response": f"{w} is a word"} for w in ("up", "red", "sky")])


@pytest.fixture
def setup(tiny_llama, char_tokenizer, tmp_path):
    model_dir = tmp_path / "model"
    tiny_llama.save_pretrained(model_dir)
    char_tokenizer.save_pretrained(model_dir)
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return model_dir, data, tmp_path


def _config(setup, out: str, **kw) -> MosaicConfig:
    model_dir, data, tmp = setup
    base = dict(data=str(data), out=tmp / out, model=str(model_dir), tokens_per_category=2, per_subset=2,
                max_order=2, epochs=1, batch_size=4, max_length=48, teacher_tokens=4, device="cpu")
    base.update(kw)
    return MosaicConfig(**base)


def test_backbone_is_frozen_and_only_tokens_train(setup):
    from transformers import AutoModelForCausalLM

    config = _config(setup, "ctl", categories="food,animal")
    before = AutoModelForCausalLM.from_pretrained(config.model).state_dict()
    metrics = run(config)
    assert metrics["tasks_per_order"]["1"] == {"positives": 4, "negatives": 4, "subsets": 2}
    # order 2: one subset, budget per_subset * C(2, 2) = 2 (below the cap of order 1's 4)
    assert metrics["tasks_per_order"]["2"] == {"positives": 2, "negatives": 2, "subsets": 1}
    assert metrics["base_answers_generated"] > 0  # "tools" rows are negatives without a response
    after = AutoModelForCausalLM.from_pretrained(config.model).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    tokens = ControlTokens.load(config.out)
    assert tokens.categories == ["food", "animal"] and tokens.tokens["food"].shape == (2, 32)
    assert (config.out / "mosaic_config.json").exists()


def test_train_step_gives_gradients_only_to_tokens(tiny_llama, char_tokenizer):
    tiny_llama.requires_grad_(False)
    tokens = ControlTokens(["a"], 3, 32)
    ids, mask, labels = tokenize_pairs(char_tokenizer, ["hi", "yo there"], ["no", "sure thing"], 48)
    prefix = tokens.compose(["a"]).unsqueeze(0).expand(2, -1, -1)
    loss, stats = mosaic_batch_loss(tiny_llama, prefix, ids, mask, labels, torch.tensor([False, True]), 1.0)
    loss.backward()
    assert tokens.tokens["a"].grad is not None and tokens.tokens["a"].grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_llama.parameters())
    assert stats["kl"] > 0


def test_kl_is_zero_without_tokens_and_matches_reference(tiny_llama, char_tokenizer):
    ids, mask, labels = tokenize_pairs(char_tokenizer, ["hi", "yo there"], ["no", "sure thing"], 48)
    empty = torch.zeros(2, 0, 32)
    _, stats = mosaic_batch_loss(tiny_llama, empty, ids, mask, labels, torch.tensor([True, True]), 1.0)
    assert abs(stats["kl"]) < 1e-6
    t, s = torch.randn(5, 11), torch.randn(5, 11)
    reference = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="none").sum(-1)
    torch.testing.assert_close(token_kl(t, s), reference)


def test_precomputed_teacher_gives_the_same_loss_and_gradient(tiny_llama, char_tokenizer):
    from train.mosaic.teacher import teacher_states

    tiny_llama.requires_grad_(False)
    prompts, answers = ["hi", "yo there", "cook rice now", "ok"], ["no", "sure thing", "rice is cooked", "fine then"]
    # precomputed in batches of 3 (other widths and padding than the training batch), rows out of order
    cache = teacher_states(tiny_llama, char_tokenizer, prompts, answers, [3, 1, 2], 48, batch_size=3)
    batch = [0, 2, 1, 3]
    negative = torch.tensor([False, True, True, True])
    ids, mask, labels = tokenize_pairs(char_tokenizer, [prompts[r] for r in batch], [answers[r] for r in batch], 48)
    results = []
    for teacher in (None, cache.batch([2, 1, 3])):
        tokens = ControlTokens(["a"], 3, 32)
        torch.nn.init.normal_(tokens.tokens["a"], generator=torch.Generator().manual_seed(1))
        prefix = tokens.compose(["a"]).unsqueeze(0).expand(4, -1, -1)
        loss, stats = mosaic_batch_loss(tiny_llama, prefix, ids, mask, labels, negative, 1.0, teacher=teacher)
        loss.backward()
        results.append((loss.detach(), stats["kl"], tokens.tokens["a"].grad))
    assert results[0][1] > 1e-6  # the tokens move the student, so the KL term is live
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-7)
    assert results[1][1] == pytest.approx(results[0][1], rel=1e-3)
    torch.testing.assert_close(results[0][2], results[1][2], rtol=1e-4, atol=1e-6)


def test_incremental_expansion_trains_only_the_new_category(setup):
    first = _config(setup, "first", categories="food,animal")
    run(first)
    second = _config(setup, "second", categories="food,animal,tools", init_from=str(first.out))
    metrics = run(second)
    assert metrics["trained_categories"] == ["tools"]
    old, new = ControlTokens.load(first.out), ControlTokens.load(second.out)
    assert new.categories == ["food", "animal", "tools"]
    for c in ("food", "animal"):
        assert torch.equal(old.tokens[c], new.tokens[c])
    with pytest.raises(ConfigError, match="already trained"):
        run(_config(setup, "third", categories="food", init_from=str(first.out)))


def test_generate_command_with_controls(setup):
    from click.testing import CliRunner

    from curate.cli import cli

    config = _config(setup, "ctl", categories="food,animal")
    run(config)
    runner = CliRunner()
    args = ["generate", "--model", config.model, "--controls", str(config.out), "--prompt", "cook rice",
            "--max-new-tokens", "3", "--device", "cpu"]
    ok = runner.invoke(cli, args + ["--active", "animal,food"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli, args + ["--active", "food,zzz"])
    assert isinstance(bad.exception, InputError) and "unknown category zzz" in str(bad.exception)


def test_bad_input(setup):
    with pytest.raises(ConfigError, match="--refusal is empty"):
        _config(setup, "x", refusal="  ")
    with pytest.raises(InputError, match="zzz has no examples"):
        run(_config(setup, "x", categories="food,zzz"))
    with pytest.raises(ConfigError, match="--lambda -1"):
        _config(setup, "x", kl_weight=-1.0)
    with pytest.raises(ConfigError, match="--threads -2"):
        _config(setup, "x", threads=-2)
    config = _config(setup, "done", categories="food")
    run(config)
    with pytest.raises(ConfigError, match="already holds trained controls"):
        run(config)
