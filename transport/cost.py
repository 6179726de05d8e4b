"""Cosine cost between unit-normalised embeddings: c(x, y) = 1 − cos(x, y) ∈ [0, 2]."""

from __future__ import annotations

import numpy as np
import torch

from curate.errors import InputError

__all__ = ["as_tensor", "normalize_rows", "cosine_cost", "check_finite_rows"]


def as_tensor(x, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """A torch view of `x` (numpy or torch) in the requested dtype/device; no copy when nothing changes."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)
    return t.to(dtype=dtype or t.dtype, device=device or t.device)


def check_finite_rows(x: torch.Tensor) -> torch.Tensor:
    """Boolean mask [n] of rows that are finite and non-zero (a zero vector has no direction)."""
    return torch.isfinite(x).all(dim=1) & (x.abs().sum(dim=1) > 0)


def normalize_rows(x: torch.Tensor, name: str = "embeddings", ids: list[str] | None = None) -> torch.Tensor:
    """Rows scaled to unit L2 norm. Raises InputError naming the first bad rows (NaN/inf or zero)."""
    good = check_finite_rows(x)
    if not bool(good.all()):
        bad = torch.nonzero(~good).flatten()[:5].tolist()
        names = [ids[i] for i in bad] if ids is not None else bad
        raise InputError(
            f"{name}: {int((~good).sum())} row(s) are NaN/inf or all-zero (first: {names}); "
            "fix the input or pass --on-error skip to drop and count them"
        )
    return x / x.norm(dim=1, keepdim=True)


def cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dense cost matrix C[i, j] = 1 − <x_i, y_j> for unit rows x [n, d], y [m, d] → [n, m] (clamped to [0, 2])."""
    if x.shape[1] != y.shape[1]:
        raise InputError(f"cost: dimension mismatch, corpus has d={x.shape[1]} but anchors have d={y.shape[1]}")
    return (1.0 - x @ y.T).clamp_(0.0, 2.0)
