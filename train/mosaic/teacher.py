"""The MOSAIC teacher, computed once: the frozen model's final hidden states on each negative row without tokens.

The teacher p_base(.|x) depends on the prompt, the response and the backbone only, none of which change while the
tokens train, so its forward pass is run once per distinct negative row instead of once per step. The states are
kept at the scored positions only ([n_i, H] per row); the LM head is applied per step, so the KL is the same one.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from curate.lm.chat import tokenize_pairs
from train.mosaic.loss import scored_hidden

__all__ = ["TeacherStates", "teacher_states", "teacher_states_on_ids"]


class TeacherStates:
    """Row index -> teacher hidden states [n_i, H] at the positions that predict the row's response tokens."""

    def __init__(self, states: dict[int, torch.Tensor]) -> None:
        self.states = states

    def batch(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden [N, H], index [N] into `rows`) in the order `scored_hidden` yields them for these rows."""
        parts = [self.states[r] for r in rows]
        index = torch.cat([torch.full((len(p),), i, dtype=torch.long) for i, p in enumerate(parts)])
        return torch.cat(parts), index.to(parts[0].device)


@torch.no_grad()
def teacher_states_on_ids(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                          rows: list[int]) -> TeacherStates:
    """Teacher states of rows already tokenised as tokenize_pairs does: ids, mask, labels [B, T], batch row i being
    table row rows[i] (one forward pass; callers batch)."""
    device = next(model.parameters()).device
    embeds = model.get_input_embeddings()(ids.to(device))
    hidden, _, index = scored_hidden(model, embeds, mask.to(device), labels.to(device))
    return TeacherStates({row: hidden[index == i].clone() for i, row in enumerate(rows)})


@torch.no_grad()
def teacher_states(model, tokenizer, prompts: list[str], responses: list[str], rows: list[int], max_length: int,
                   batch_size: int, progress: bool = True) -> TeacherStates:
    """Teacher states for `rows` (distinct table rows); tokenised exactly as the training step tokenises them."""
    rows = sorted(set(rows))
    states: dict[int, torch.Tensor] = {}
    for start in tqdm(range(0, len(rows), batch_size), desc="mosaic teacher", unit="batch", leave=False,
                      disable=not progress):
        chunk = rows[start:start + batch_size]
        ids, mask, labels = tokenize_pairs(tokenizer, [prompts[r] for r in chunk], [responses[r] for r in chunk],
                                           max_length)
        states.update(teacher_states_on_ids(model, ids, mask, labels, chunk).states)
    return TeacherStates(states)
