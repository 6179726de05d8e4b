"""MOSAIC losses for one batch of tasks.

Positives: L_CE of the refusal given [z_S; x]. Negatives: L_LM of the response given [z_S; x]
+ lambda * KL(p_base(.|x) || p_ctrl(.|z_S, x)), averaged over the scored positions (those that predict a response
token). The teacher p_base is the same frozen model run on x without tokens, under no_grad, on the same batch
rows; its hidden states can be passed in precomputed (they do not change while the tokens train).
Only the positions that are scored go through the LM head, which keeps the [B, T, V] logits out of memory.
With a bf16 backbone the head runs in fp32 on the upcast hidden states, so the loss reads fp32 logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from train.mosaic.tokens import insert_prefix, position_ids_from_mask

__all__ = ["scored_hidden", "head_logits", "token_kl", "per_row_mean", "mosaic_batch_loss"]


def scored_hidden(model, embeds: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor):
    """(hidden [N, H] at the positions that predict a labelled token, their targets [N], row index [N])."""
    out = model.base_model(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids_from_mask(mask))
    hidden = out.last_hidden_state[:, :-1]
    scored = labels[:, 1:] != -100
    rows = scored.nonzero()[:, 0]
    return hidden[scored], labels[:, 1:][scored], rows


def head_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """[N, V] fp32 logits of hidden [N, H]; a low-precision head is applied with its weights upcast."""
    head = model.get_output_embeddings()
    if hidden.dtype == torch.float32 and head.weight.dtype == torch.float32:
        return head(hidden)
    bias = head.bias.float() if head.bias is not None else None
    return F.linear(hidden.float(), head.weight.float(), bias)


def token_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_teacher || p_student) per position: sum_v p_t (log p_t - log p_s); [N, V] x 2 -> [N]."""
    log_t = F.log_softmax(teacher_logits.float(), dim=-1)
    log_s = F.log_softmax(student_logits.float(), dim=-1)
    return (log_t.exp() * (log_t - log_s)).sum(-1)


def per_row_mean(values: torch.Tensor, rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Mean of `values` [N] per row index -> [n_rows] (0 for a row with no entries)."""
    sums = values.new_zeros(n_rows).index_add(0, rows, values)
    counts = values.new_zeros(n_rows).index_add(0, rows, torch.ones_like(values))
    return sums / counts.clamp_min(1.0)


def mosaic_batch_loss(model, prefix: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      labels: torch.Tensor, negative: torch.Tensor, kl_weight: float,
                      teacher: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict]:
    """Scalar loss for a batch and its parts. prefix [B, k, H]; ids/mask/labels [B, T]; negative [B] bool.

    `teacher`: the negatives' precomputed (hidden [N, H], index [N] into the negative rows), as `scored_hidden`
    returns them for `embeds[negative]`; None runs the frozen model without tokens here.
    """
    embeds = model.get_input_embeddings()(input_ids)
    s_embeds, s_mask, s_labels = insert_prefix(prefix, embeds, attention_mask, labels)
    hidden, targets, rows = scored_hidden(model, s_embeds, s_mask, s_labels)
    student_logits = head_logits(model, hidden)
    ce = per_row_mean(F.cross_entropy(student_logits.float(), targets, reduction="none"), rows, len(input_ids))
    kl = ce.new_zeros(len(input_ids))
    if negative.any():
        with torch.no_grad():
            if teacher is None:
                t_hidden, _, t_rows = scored_hidden(model, embeds[negative], attention_mask[negative], labels[negative])
            else:
                t_hidden, t_rows = teacher
            teacher_logits = head_logits(model, t_hidden)
        # the same tokens are scored in the same order with and without the prefix, so the entries line up
        on_negative = negative[rows]
        neg_index = negative.nonzero()[:, 0]
        kl_values = token_kl(teacher_logits, student_logits[on_negative])
        kl = kl.index_add(0, neg_index, per_row_mean(kl_values, t_rows, int(negative.sum())))
    loss = (ce + kl_weight * kl * negative.float()).mean()
    ce, kl = ce.detach(), kl.detach()
    stats = {"loss": float(loss.detach()), "ce_pos": float(ce[~negative].mean()) if (~negative).any() else 0.0,
             "ce_neg": float(ce[negative].mean()) if negative.any() else 0.0,
             "kl": float(kl[negative].mean()) if negative.any() else 0.0}
    return loss, stats
