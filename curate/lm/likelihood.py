"""Response likelihood: per-example mean token NLL of an answer given its chat-formatted prompt."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from curate.lm.chat import tokenize_pairs

__all__ = ["example_nll", "forward_logits", "response_nll"]


def example_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean NLL over each row's labelled tokens. logits [B, T, V], labels [B, T] (-100 = ignore) -> [B].

    Position t predicts token t+1, so logits[:, :-1] are scored against labels[:, 1:]. A row with no labelled
    token gets 0 (it carries no signal, and must not produce NaN).
    """
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    token_nll = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=-100, reduction="none"
    ).view(shift_labels.shape)
    mask = (shift_labels != -100).to(token_nll.dtype)
    return (token_nll * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def forward_logits(model, input_ids, attention_mask, labels, controller=None):
    """Model logits and labels aligned with them; a controller may prepend positions (labelled -100)."""
    if controller is None:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits, labels
    embeds, mask = controller.embed_inputs(model, input_ids, attention_mask)
    extra = embeds.shape[1] - input_ids.shape[1]
    if extra:
        labels = torch.cat([labels.new_full((labels.shape[0], extra), -100), labels], dim=1)
    with controller.hooks(model):
        logits = model(inputs_embeds=embeds, attention_mask=mask).logits
    return logits, labels


@torch.no_grad()
def response_nll(
    model,
    tokenizer,
    prompts: list[str],
    responses: list[str],
    *,
    controller=None,
    batch_size: int = 16,
    max_length: int = 256,
    system: str | None = None,
) -> np.ndarray:
    """Mean token NLL (nats) of each response given its prompt, shape [n]; lower = the model finds it likelier."""
    device = next(model.parameters()).device
    out: list[np.ndarray] = []
    for start in range(0, len(prompts), batch_size):
        ids, mask, labels = tokenize_pairs(
            tokenizer, prompts[start:start + batch_size], responses[start:start + batch_size], max_length, system=system
        )
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
        logits, labels = forward_logits(model, ids, mask, labels, controller)
        out.append(example_nll(logits, labels).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
