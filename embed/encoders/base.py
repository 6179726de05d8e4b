"""Encoder protocol and the batching helpers every encoder shares (length-sorted batches, right padding)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = ["Encoder", "Encoded", "Progress", "pad_right", "length_sorted_batches", "tokenize"]

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


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
    return [ids if ids else [tokenizer.pad_token_id or 0] for ids in encoded["input_ids"]]
