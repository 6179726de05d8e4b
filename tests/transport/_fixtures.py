"""Small random problems shared by the transport tests."""

from __future__ import annotations

import numpy as np


def unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def problem(seed: int = 0, n: int = 30, m: int = 20, d: int = 8):
    """(x [n, d], y [m, d], a [n] random simplex, b [m] uniform)."""
    rng = np.random.default_rng(seed)
    x, y = unit(rng, n, d), unit(rng, m, d)
    a = rng.random(n) + 0.1
    return x, y, a / a.sum(), np.full(m, 1.0 / m)
