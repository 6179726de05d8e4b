"""Batched greedy generation with the chat template, left padding and the KV cache."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from curate.lm.chat import format_prompt

__all__ = ["encode_left_padded", "generate"]


def encode_left_padded(tokenizer, texts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) [B, T] on `device`, padded on the left so every row ends at its last token."""
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(e) for e in encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for i, e in enumerate(encoded):
        ids[i, width - len(e):] = torch.tensor(e, dtype=torch.long)
        mask[i, width - len(e):] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def _generate_batch(model, tokenizer, texts, controller, max_new_tokens) -> list[str]:
    device = next(model.parameters()).device
    ids, mask = encode_left_padded(tokenizer, texts, device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    options = dict(max_new_tokens=max_new_tokens, do_sample=False, use_cache=True, pad_token_id=pad,
                   eos_token_id=tokenizer.eos_token_id)
    if controller is None:
        new = model.generate(input_ids=ids, attention_mask=mask, **options)[:, ids.shape[1]:]
    else:
        embeds, emask = controller.embed_inputs(model, ids, mask)
        with controller.hooks(model):
            new = model.generate(inputs_embeds=embeds, attention_mask=emask, **options)
    return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]


def generate(
    model,
    tokenizer,
    prompts: list[str],
    *,
    controller=None,
    system: str | None = None,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    progress: bool = True,
) -> list[str]:
    """Greedy answers to `prompts`, in order. Batches group prompts of similar length to waste less padding."""
    texts = [format_prompt(tokenizer, p, system) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[str] = [""] * len(texts)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="generate", unit="batch", disable=not progress):
        batch_answers = _generate_batch(model, tokenizer, [texts[i] for i in batch], controller, max_new_tokens)
        for i, answer in zip(batch, batch_answers):
            answers[i] = answer
    return answers
