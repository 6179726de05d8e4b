"""Head ablation: a forward pre-hook on ``o_proj`` zeroes one head's slice of its input."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

from train.cast.heads import attention_layers

__all__ = ["ablate_head"]


@contextlib.contextmanager
def ablate_head(model: nn.Module, layer: int, head: int, attention: nn.Module | None = None) -> Iterator[None]:
    """Within the block, head (layer, head) contributes nothing to the residual stream.

    `attention` is that layer's attention module when the caller already has it (layers may be swapped out).
    """
    attn = attention if attention is not None else attention_layers(model)[layer]
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    lo, hi = head * head_dim, (head + 1) * head_dim

    def hook(_module, args):
        x = args[0].clone()
        x[..., lo:hi] = 0
        return (x, *args[1:])

    handle = attn.o_proj.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()
