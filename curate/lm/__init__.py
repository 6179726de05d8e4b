"""Shared causal-LM code: chat formatting, batched generation, answer likelihood, decoder-layer access.

Ground floor: imported by embed, concepts, train and evaluation, it imports none of them. Names load on first
use, so `import curate.lm` does not import torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    "CHATML_TEMPLATE", "ensure_chat_template", "format_prompt", "tokenize_pairs",
    "encode_left_padded", "generate",
    "example_nll", "forward_logits", "response_nll",
    "decoder_layers", "final_norm", "num_layers",
]

_HOME = {
    "CHATML_TEMPLATE": "chat", "ensure_chat_template": "chat", "format_prompt": "chat", "tokenize_pairs": "chat",
    "encode_left_padded": "generation", "generate": "generation",
    "example_nll": "likelihood", "forward_logits": "likelihood", "response_nll": "likelihood",
    "decoder_layers": "layers", "final_norm": "layers", "num_layers": "layers",
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'curate.lm' has no attribute '{name}'")
    return getattr(importlib.import_module(f"curate.lm.{_HOME[name]}"), name)
