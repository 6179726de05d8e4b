"""MOSAIC at a budget: a bf16 backbone with fp32 tokens and loss, --max-steps, the step callback, s/step."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from curate.errors import ConfigError
from curate.lm.chat import tokenize_pairs
from train.mosaic import MosaicConfig, run
from train.mosaic.loss import mosaic_batch_loss
from train.mosaic.tokens import ControlTokens

ROWS = ([{"prompt": f"cook {w}", "category": "food", "response": None} for w in ("rice", "eggs", "soup", "pie")]
        + [{"prompt": f"pet {w}", "category": "animal", "response": None} for w in ("cat", "dog", "owl")]
        + [{"prompt": f"what is {w}", "category": None, "response": f"{w} is a word"} for w in ("up", "red", "sky")])


@pytest.fixture
def config(tiny_lm_model, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")

    def make(out: str, **kw) -> MosaicConfig:
        base = dict(data=str(data), out=tmp_path / out, model=str(tiny_lm_model), tokens_per_category=2,
                    per_subset=2, max_order=2, epochs=1, batch_size=4, max_length=48, teacher_tokens=4,
                    device="cpu", progress=False)
        return MosaicConfig(**{**base, **kw})

    return make


def test_bf16_backbone_keeps_fp32_tokens_and_loss_and_follows_fp32(tiny_llama, char_tokenizer):
    tiny_llama.requires_grad_(False)
    low = copy.deepcopy(tiny_llama).to(torch.bfloat16)
    ids, mask, labels = tokenize_pairs(char_tokenizer, ["hi", "yo there", "cook"], ["no", "sure thing", "ok"], 48)
    negative = torch.tensor([False, True, True])
    results = []
    for model in (tiny_llama, low):
        tokens = ControlTokens(["a"], 3, 32)
        torch.nn.init.normal_(tokens.tokens["a"], generator=torch.Generator().manual_seed(1))
        prefix = tokens.compose(["a"]).unsqueeze(0).expand(3, -1, -1)
        loss, stats = mosaic_batch_loss(model, prefix, ids, mask, labels, negative, 1.0)
        loss.backward()
        assert loss.dtype == torch.float32 and tokens.tokens["a"].grad.dtype == torch.float32
        results.append((float(loss.detach()), tokens.tokens["a"].grad.flatten()))
    assert results[1][0] == pytest.approx(results[0][0], rel=0.02)
    assert torch.nn.functional.cosine_similarity(results[0][1], results[1][1], dim=0) > 0.95


def test_bf16_run_saves_fp32_tokens(config):
    metrics = run(config("low", dtype="bf16", categories="food,animal"))
    assert metrics["dtype"] == "bf16" and metrics["seconds_per_step"] > 0
    tokens = ControlTokens.load(config("low").out)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in tokens.tokens.values())


def test_max_steps_cycles_epochs_and_calls_back_every_step(config):
    seen = []
    metrics = run(config("steps", max_steps=7, categories="food,animal"),
                  on_step=lambda step, tokens, model, tokenizer: seen.append((step, tuple(tokens.categories))))
    # one pass is 2 batches of order 1 (8 tasks) + 1 of order 2 (4 tasks): 7 steps need three passes, cut at 7
    assert metrics["steps"] == 7 and [s for s, _ in seen] == list(range(1, 8))
    assert seen[0][1] == ("food", "animal")
    one_pass = run(config("epoch", categories="food,animal"))
    assert one_pass["steps"] == 3


def test_bad_budget_options_name_the_option(config):
    with pytest.raises(ConfigError, match="--max-steps 0"):
        config("x", max_steps=0)
    with pytest.raises(ConfigError, match="--dtype 'fp16': use fp32 or bf16"):
        config("x", dtype="fp16")


def test_bf16_check_reports_cosine_and_step_times(tiny_llama, char_tokenizer):
    from bench.mosaic.bf16_check import compare_dtypes

    rows = [{"prompt": f"cook {w}", "category": "food", "response": None} for w in ("rice", "eggs")] + [
        {"prompt": f"what is {w}", "category": None, "response": f"{w} is a word"} for w in ("up", "red")]
    result = compare_dtypes(tiny_llama, char_tokenizer, rows, batch_size=4, max_length=32, tokens_per_category=2,
                            repeats=1)
    assert result["batch"] == {"rows": 4, "positives": 2, "width": result["batch"]["width"]}
    assert 0.9 < result["cosine"] <= 1.0 + 1e-9 and 0.8 < result["relative_norm"] < 1.2
    assert result["seconds_per_step_fp32"] > 0 and result["seconds_per_step_bf16"] > 0
    assert next(tiny_llama.parameters()).dtype == torch.float32  # the caller's model is left as it was
