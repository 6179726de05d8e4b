"""Generation and likelihood on a tiny model: padding invariance, controller path, masked NLL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curate.errors import InputError
from curate.evaluation.controls import NoControl, load_controller
from curate.lm.chat import format_prompt, tokenize_pairs
from curate.lm.generation import generate
from curate.lm.likelihood import response_nll

PROMPTS = ["hi", "a much longer prompt here", "mid size"]


def test_batched_generation_equals_one_by_one(tiny_llama, char_tokenizer):
    batched = generate(tiny_llama, char_tokenizer, PROMPTS, max_new_tokens=6, batch_size=3, progress=False)
    single = [generate(tiny_llama, char_tokenizer, [p], max_new_tokens=6, progress=False)[0] for p in PROMPTS]
    assert batched == single
    assert all(len(a) > 0 for a in batched)


def test_controller_path_matches_plain(tiny_llama, char_tokenizer):
    plain = generate(tiny_llama, char_tokenizer, PROMPTS, max_new_tokens=5, progress=False)
    via = generate(tiny_llama, char_tokenizer, PROMPTS, max_new_tokens=5, controller=NoControl(), progress=False)
    assert plain == via


def test_response_nll_matches_manual(tiny_llama, char_tokenizer):
    prompts, responses = ["hello", "what is up"], ["fine thanks", "ok"]
    got = response_nll(tiny_llama, char_tokenizer, prompts, responses, batch_size=2)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        text = format_prompt(char_tokenizer, p)
        p_ids = char_tokenizer(text, add_special_tokens=False)["input_ids"]
        full = char_tokenizer(text + r + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(tiny_llama(torch.tensor([full])).logits[0].float(), -1)
        manual = -np.mean([logp[t - 1, full[t]].item() for t in range(len(p_ids), len(full))])
        assert got[i] == pytest.approx(manual, abs=1e-5)
    # with a controller that changes nothing, the NLL is the same
    via = response_nll(tiny_llama, char_tokenizer, prompts, responses, controller=NoControl())
    np.testing.assert_allclose(via, got, atol=1e-5)


def test_tokenize_pairs_truncates_keeping_response(char_tokenizer):
    ids, mask, labels = tokenize_pairs(char_tokenizer, ["x" * 200], ["answer"], 40)
    assert ids.shape[1] == 40 and (labels != -100).sum() > 0


def test_no_chat_template_names_the_option(char_tokenizer):
    char_tokenizer.chat_template = None
    with pytest.raises(InputError, match="--template chatml"):
        format_prompt(char_tokenizer, "hi")


def test_load_controller_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        load_controller("other", tmp_path)
    with pytest.raises(InputError, match="--controls .*no such folder"):
        load_controller("mosaic", tmp_path / "missing")
