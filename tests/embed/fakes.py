"""A fake encoder (vectors from a hash of the text) and its builder, for runner/resume/bad-input tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from embed.encoders import Encoded


class FakeEncoder:
    normalized = True

    def __init__(self, dim: int, fail_after: int | None, calls: list):
        self.dim, self.fail_after, self.calls = dim, fail_after, calls

    def encode(self, items, progress=None):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls.append(len(items))
        rows = []
        for text in items:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim)
            rows.append(v / np.linalg.norm(v))
        if progress:
            progress(len(items))
        return Encoded(np.asarray(rows, dtype=np.float32).reshape(len(items), self.dim))


CALLS: dict[str, list] = {}


@dataclass(frozen=True)
class FakeBuilder:
    dim: int = 8
    fail_after: int | None = None
    name: str = "fake"

    @property
    def cache_key(self) -> str:
        return repr(self)

    def __call__(self) -> FakeEncoder:
        return FakeEncoder(self.dim, self.fail_after, CALLS.setdefault(self.name, []))
