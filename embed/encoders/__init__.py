"""Encoders: a list of texts (or image paths) -> vectors, built by `EncoderBuilder` inside whichever process runs them.

All encoders sort a shard's records by token length and batch neighbours together (less padding), run under
`torch.inference_mode`, and return rows in the input order.
"""

from embed.encoders.base import Encoded, Encoder, length_sorted_batches, pad_right, tokenize
from embed.encoders.build import EncoderBuilder
from embed.encoders.text import TextEncoder

__all__ = ["Encoder", "Encoded", "EncoderBuilder", "TextEncoder", "pad_right", "length_sorted_batches", "tokenize"]
