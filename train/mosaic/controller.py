"""The MOSAIC eval Controller: prepends the active categories' trained control tokens.

    from train.mosaic import MosaicConfig, run, load_controller
    controller = load_controller("controls/", active=["malicious_uses", "misinformation"])
    generate(model, tokenizer, prompts, controller=controller)   # curate.evaluation.generate
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from train.mosaic.tokens import ControlTokens, insert_prefix

__all__ = ["MosaicController", "load_controller", "parse_active"]


class MosaicController:
    """Contract-3 Controller: prepends the active categories' tokens; no forward hooks."""

    def __init__(self, tokens: ControlTokens, active: list[str] | tuple[str, ...]) -> None:
        tokens.check_active(tuple(active))
        self.tokens = tokens
        self.active = tuple(active)

    def embed_inputs(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """(inputs_embeds [B, T + r*m, H], attention_mask [B, T + r*m]); the prefix sits before the first real token."""
        embeds = model.get_input_embeddings()(input_ids)
        prefix = self.tokens.compose(self.active).to(device=embeds.device, dtype=embeds.dtype)
        out, mask, _ = insert_prefix(prefix, embeds, attention_mask)
        return out, mask

    def hooks(self, model) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def parse_active(active: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """'a,b' or ['a', 'b'] -> ('a', 'b'); None or '' -> () (no control tokens)."""
    if active is None:
        return ()
    if isinstance(active, str):
        active = active.split(",")
    return tuple(a.strip() for a in active if a.strip())


def load_controller(path: str | Path, active: str | list[str] | tuple[str, ...] | None = None) -> MosaicController:
    """Controls saved by `curate train mosaic` with `active` categories switched on (in that order)."""
    tokens = ControlTokens.load(path)
    tokens.requires_grad_(False)
    return MosaicController(tokens, parse_active(active))
