"""Per-head parameter slices of Llama-like attention (CAST's θ_h).

Head h of a layer owns rows ``h*d:(h+1)*d`` of ``q_proj.weight`` and columns ``h*d:(h+1)*d`` of
``o_proj.weight`` (d = head_dim). With grouped-query attention the k/v rows of KV group
``g = h // (n_heads // n_kv_heads)`` are shared by that group's query heads; we include them in every
head of the group (the documented choice), so masking one head of a group also freezes its k/v rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from curate.errors import ConfigError, InputError
from curate.lm.layers import decoder_layers

__all__ = ["HeadSlice", "attention_layers", "head_slices"]


@dataclass(frozen=True)
class HeadSlice:
    """One (parameter, dimension, start, stop) slice belonging to a head."""

    layer: int
    head: int
    name: str
    dim: int
    start: int
    stop: int


def attention_layers(model: nn.Module) -> list[nn.Module]:
    """The self-attention modules of a Llama-like model, in layer order."""
    try:
        layers = decoder_layers(model)
    except ConfigError as err:
        raise InputError(f"{type(model).__name__} has no decoder blocks: CAST needs a Llama-like decoder "
                         "(q_proj/k_proj/v_proj/o_proj attention)") from err
    attns = []
    for i, layer in enumerate(layers):
        attn = getattr(layer, "self_attn", None)
        if attn is None or not all(hasattr(attn, p) for p in ("q_proj", "k_proj", "v_proj", "o_proj")):
            raise InputError(f"{type(model).__name__} layer {i} has no self_attn.q_proj/k_proj/v_proj/o_proj: "
                             "CAST needs a Llama-like decoder (q_proj/k_proj/v_proj/o_proj attention)")
        attns.append(attn)
    return attns


def head_slices(model: nn.Module) -> list[HeadSlice]:
    """All head slices; names are full parameter names as in ``model.named_parameters()``."""
    cfg = model.config
    n_heads = cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_heads
    per_group = n_heads // n_kv
    names = {id(m): n for n, m in model.named_modules()}
    out: list[HeadSlice] = []
    for li, attn in enumerate(attention_layers(model)):
        prefix = names[id(attn)]
        for h in range(n_heads):
            q0, g0 = h * head_dim, (h // per_group) * head_dim
            out.append(HeadSlice(li, h, f"{prefix}.q_proj.weight", 0, q0, q0 + head_dim))
            out.append(HeadSlice(li, h, f"{prefix}.o_proj.weight", 1, q0, q0 + head_dim))
            for p in ("k_proj", "v_proj"):
                out.append(HeadSlice(li, h, f"{prefix}.{p}.weight", 0, g0, g0 + head_dim))
    return out
