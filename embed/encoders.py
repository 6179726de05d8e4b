"""Encoders: a list of texts (or image paths) → vectors. Built by `EncoderBuilder` inside whichever process runs them.

All encoders sort a shard's records by token length and batch neighbours together (less padding), run under
`torch.inference_mode`, and return rows in the input order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = ["Encoder", "Encoded", "EncoderBuilder", "TextEncoder", "pad_right", "length_sorted_batches"]

Progress = Callable[[int], None] | None


@dataclass
class Encoded:
    """vectors [n, d] float32 in input order; with per-token output, vectors [sum(token_counts), d] and
    token_counts [n]; `failures` maps an input position to why it could not be encoded (it has no rows)."""

    vectors: np.ndarray
    token_counts: np.ndarray | None = None
    failures: dict[int, str] = field(default_factory=dict)


class Encoder(Protocol):
    dim: int
    normalized: bool

    def encode(self, items: list[str], progress: Progress = None) -> Encoded: ...


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Positions grouped into batches of similar length, longest first (a stable order: reruns batch alike)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad_right(sequences: list[list[int]], pad_id: int):
    """(input_ids [b, T], attention_mask [b, T]) as int64 tensors, padded on the right to the longest."""
    import torch

    width = max(len(s) for s in sequences)
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = seq
        mask[row, :len(seq)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
    return [ids if ids else [tokenizer.pad_token_id or 0] for ids in encoded["input_ids"]]


class TextEncoder:
    """Sentence embeddings: attention-masked mean of the last hidden state, L2-normalised (sentence-transformers)."""

    normalized = True

    def __init__(self, tokenizer, model, *, batch_size: int = 64, max_length: int = 256, device=None,
                 dtype=None):
        import torch

        self.tokenizer, self.batch_size, self.max_length = tokenizer, batch_size, max_length
        self.device = torch.device(device or "cpu")
        self.model = model.to(self.device, dtype=dtype or torch.float32).eval()
        self.dim = int(model.config.hidden_size)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def encode(self, items: list[str], progress: Progress = None) -> Encoded:
        import torch

        sequences = _tokenize(self.tokenizer, items, self.max_length)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for batch in length_sorted_batches(np.fromiter(map(len, sequences), int, len(sequences)), self.batch_size):
                ids, mask = pad_right([sequences[i] for i in batch], self.pad_id)
                ids, mask = ids.to(self.device), mask.to(self.device)
                hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out[batch] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
                if progress:
                    progress(len(batch))
        return Encoded(out)


@dataclass(frozen=True)
class EncoderBuilder:
    """A picklable recipe for the encoder a config asks for; called once per worker (Dask) or process."""

    config: object  # EmbedConfig

    @property
    def cache_key(self) -> str:
        from curate.config import config_to_dict

        c = config_to_dict(self.config)
        return repr({k: c[k] for k in ("model", "encoder", "layer", "pooling", "max_length", "batch_size",
                                         "device", "precision", "clip_pretrained", "image_field")})

    def __call__(self) -> Encoder:
        from curate.device import autocast_dtype, resolve_device

        config = self.config
        device = resolve_device(config.device)
        precision = autocast_dtype(device, "float16" if config.precision == "auto" and device.type == "cuda"
                                   else config.precision)
        common = {"batch_size": config.batch_size, "device": device, "dtype": precision}
        if config.encoder == "text":
            from curate.models import load_text_encoder

            tokenizer, model = load_text_encoder(config.model)
            return TextEncoder(tokenizer, model, max_length=config.max_length, **common)
        if config.encoder == "lm":
            from curate.models import load_causal_lm
            from embed._lm import CausalLMEncoder

            tokenizer, model = load_causal_lm(config.model)
            return CausalLMEncoder(tokenizer, model, layer=config.layer, pooling=config.pooling,
                                   max_length=config.max_length, **common)
        from embed._clip import ClipEncoder

        return ClipEncoder.build(config.model, config.clip_pretrained, images=config.image_field is not None,
                                 **common)
