"""Shared causal-LM code: chat formatting, batched generation, answer likelihood, decoder-layer access.

Ground floor: imported by embed, concepts, train and evaluation, it imports none of them. Names load on first
use, so `import curate.lm` does not import torch.
"""

from __future__ import annotations

from curate.lazy import lazy_exports

__all__ = [
    "CHATML_TEMPLATE", "ensure_chat_template", "format_prompt", "tokenize_pairs",
    "encode_left_padded", "generate",
    "example_nll", "forward_logits", "response_nll",
    "decoder_layers", "final_norm", "num_layers",
]

lazy_exports(__name__, {
    "curate.lm.chat": ["CHATML_TEMPLATE", "ensure_chat_template", "format_prompt", "tokenize_pairs"],
    "curate.lm.generation": ["encode_left_padded", "generate"],
    "curate.lm.likelihood": ["example_nll", "forward_logits", "response_nll"],
    "curate.lm.layers": ["decoder_layers", "final_norm", "num_layers"],
})
