"""Dask map-reduce log-kernel: source shards are tasks; each Sinkhorn half-step maps over the shards.

row_lse: every shard returns its own rows of log Σ_j exp(h_j − C_ij/eps) (concatenated in shard order).
col_lse: every shard returns a partial (max, Σ exp) pair per anchor [m]; the reduce merges them, so only
O(m) numbers per shard travel. Results equal the local StreamKernel up to float rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from transport.stream import StreamKernel, merge_lse

__all__ = ["DaskKernel", "dask_client"]


def _shard_row_lse(x: np.ndarray, y: np.ndarray, h: np.ndarray, eps: float) -> np.ndarray:
    return StreamKernel(torch.from_numpy(x), torch.from_numpy(y), eps).row_lse(torch.from_numpy(h)).numpy()


def _shard_col_partial(x: np.ndarray, y: np.ndarray, h: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    v = torch.from_numpy(h)[:, None] - (1.0 - torch.from_numpy(x) @ torch.from_numpy(y).T).clamp_(0.0, 2.0).to(
        torch.from_numpy(h).dtype) / eps
    top = v.max(dim=0).values
    safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return top.numpy(), torch.exp(v - safe).sum(dim=0).numpy()


def dask_client(address: str):
    """A dask.distributed Client for 'local:N' (N local worker processes) or a scheduler address; None for
    'threads' (Dask's in-process threaded scheduler, no cluster)."""
    from distributed import Client, LocalCluster

    if address == "threads":
        return None
    if address.startswith("local:"):
        workers = int(address.split(":", 1)[1] or 1)
        return Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
    return Client(address)


class DaskKernel:
    """LogKernel over source shards x_k [n_k, d] held by Dask workers (client given) or run by a local scheduler."""

    def __init__(self, shards: list[np.ndarray], y: np.ndarray, eps: float, *, client=None, scheduler: str = "threads"):
        self.client, self.scheduler = client, scheduler
        self.sizes = [s.shape[0] for s in shards]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.n, self.m, self.eps = int(self.offsets[-1]), y.shape[0], float(eps)
        if client is not None:
            self.shards = client.scatter(shards, broadcast=False)
            self.y = client.scatter(y, broadcast=True)
        else:
            self.shards, self.y = shards, y

    def _map(self, fn, hs: list[np.ndarray]) -> list:
        if self.client is not None:
            futures = [self.client.submit(fn, s, self.y, h, self.eps, pure=False) for s, h in zip(self.shards, hs)]
            return self.client.gather(futures)
        import dask

        tasks = [dask.delayed(fn)(s, self.y, h, self.eps) for s, h in zip(self.shards, hs)]
        return list(dask.compute(*tasks, scheduler=self.scheduler))

    def row_lse(self, h: torch.Tensor) -> torch.Tensor:
        parts = self._map(_shard_row_lse, [h.cpu().numpy()] * len(self.sizes))
        return torch.from_numpy(np.concatenate(parts)).to(h)

    def col_lse(self, h: torch.Tensor) -> torch.Tensor:
        arr = h.cpu().numpy()
        pieces = [arr[self.offsets[k] : self.offsets[k + 1]] for k in range(len(self.sizes))]
        top = torch.full((self.m,), float("-inf"), dtype=h.dtype)
        total = torch.zeros_like(top)
        for block_top, block_total in self._map(_shard_col_partial, pieces):
            top, total = merge_lse(top, total, torch.from_numpy(block_top), torch.from_numpy(block_total))
        return (torch.log(total) + top).to(h.device)
