"""A short check on the real SmolLM2 tokenizer/model: left-padded batches answer exactly like single prompts."""

import pytest


@pytest.mark.real_model
def test_smollm2_batched_generation_matches_single():
    from curate.lm.generation import generate
    from curate.models import load_causal_lm

    tokenizer, model = load_causal_lm("smollm2-135m")
    prompts = ["What does the word 'ostrich' mean?", "Hi"]
    batched = generate(model, tokenizer, prompts, max_new_tokens=6, progress=False)
    single = [generate(model, tokenizer, [p], max_new_tokens=6, progress=False)[0] for p in prompts]
    assert batched == single and all(batched)
