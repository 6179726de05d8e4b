"""Stable hashing used for deterministic choices and splits (no RNG state, same on every machine)."""

from __future__ import annotations

import hashlib
import re

__all__ = ["stable_hash", "normalize_text"]


def stable_hash(*parts: str) -> int:
    """64-bit integer from sha256 of the parts; order-sensitive and platform-independent."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def normalize_text(text: str) -> str:
    """Lower-case, collapse whitespace, drop trailing punctuation: the key for 'same prompt text'."""
    return re.sub(r"\s+", " ", text.lower()).strip().rstrip(".?!").strip()
