"""Block-streamed dense log-kernel: cost blocks 1 − X_b Yᵀ are rebuilt on the fly, so n×m is never held.

Memory is O(block_rows · m) instead of O(n · m); the column reduction keeps a running (max, sum-exp) pair per
anchor across blocks. Meant for a GPU (one matmul + one log-sum-exp per block), correct on CPU too.
"""

from __future__ import annotations

import torch

__all__ = ["StreamKernel", "merge_lse"]


def merge_lse(top: torch.Tensor, total: torch.Tensor, block_top: torch.Tensor, block_total: torch.Tensor):
    """Merge two partial log-sum-exps held as (max, Σ exp(v − max)) pairs; -inf maxima are handled."""
    new_top = torch.maximum(top, block_top)
    safe = torch.where(torch.isfinite(new_top), new_top, torch.zeros_like(new_top))
    return new_top, total * torch.exp(top - safe) + block_total * torch.exp(block_top - safe)


class StreamKernel:
    """LogKernel for unit rows x [n, d] and anchors y [m, d] with cost 1 − cos, in blocks of block_rows sources."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, eps: float, block_rows: int = 8192):
        self.x, self.y, self.eps, self.block_rows = x, y, float(eps), int(block_rows)
        self.n, self.m = x.shape[0], y.shape[0]

    def _blocks(self):
        for start in range(0, self.n, self.block_rows):
            xb = self.x[start : start + self.block_rows]
            yield start, (1.0 - xb @ self.y.T).clamp_(0.0, 2.0) / self.eps

    def row_lse(self, h: torch.Tensor) -> torch.Tensor:
        out = torch.empty(self.n, dtype=h.dtype, device=h.device)
        for start, scaled in self._blocks():
            out[start : start + scaled.shape[0]] = torch.logsumexp(h[None, :] - scaled.to(h.dtype), dim=1)
        return out

    def col_lse(self, h: torch.Tensor) -> torch.Tensor:
        top, total = self.col_pair(h)
        return torch.log(total) + top

    def col_pair(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(max, Σ exp(· − max)) per anchor [m] of h_i − C_ij/eps, merged block by block (a shard's reply)."""
        top = torch.full((self.m,), float("-inf"), dtype=h.dtype, device=h.device)
        total = torch.zeros_like(top)
        for start, scaled in self._blocks():
            v = h[start : start + scaled.shape[0], None] - scaled.to(h.dtype)
            block_top = v.max(dim=0).values
            safe = torch.where(torch.isfinite(block_top), block_top, torch.zeros_like(block_top))
            top, total = merge_lse(top, total, block_top, torch.exp(v - safe).sum(dim=0))
        return top, total
