"""SOT on a Dask cluster without a fat driver: the corpus stays on the workers, sharded.

`ShardedCorpus` is the driver's handle: one ShardGroup actor per worker (transport/dask_worker.py) reads that
worker's embedding shards (a path or fsspec URL every worker sees), builds and keeps each shard's kernel
(kNN-sparse or stream) and every per-row vector of the solve. Each Sinkhorn half-step is one call per worker that
sends O(m) numbers and gets back O(m): per-anchor sums or log-sum-exp pairs (max, Σ exp(v − max)), merged here
(dask_sinkhorn.py, dask_pushpull.py). The driver holds the layout, O(m) arrays and, at the end, the per-row
weights and potentials it returns. `traffic` counts payload bytes: `sent` and `received` those of the O(m) calls
(a worker merges its shards' partials before it replies, so a half-step moves O(m · workers) whatever the number of
shards), `gathered` the per-row replies (`rows`, `shard_ids`: O(n), once per solve and write). A worker that
dies holding shards loses their state: the call raises WorkerLostError and nothing is written; a rerun rebuilds.

`DaskKernel` is the older LogKernel over in-memory shards (each half-step moves O(n) numbers): a drop-in kernel
for sinkhorn_kernel on small problems; `curate sot-weight --dask` uses ShardedCorpus.
"""

from __future__ import annotations

import numpy as np
import torch

from curate.errors import InputError
from transport.dask_shards import ShardSource
from transport.dask_worker import ShardGroup
from transport.stream import StreamKernel, merge_lse

__all__ = ["ShardedCorpus", "DaskKernel", "place_shards", "merged_lse"]


def place_shards(sources: list[ShardSource], workers: list[str]) -> dict[str, list[ShardSource]]:
    """Shards spread over workers by rows (largest first to the least loaded), each worker's list in shard order."""
    load = {w: 0 for w in workers}
    placed: dict[str, list[ShardSource]] = {w: [] for w in workers}
    for source in sorted(sources, key=lambda s: (-s.rows, s.index)):
        worker = min(workers, key=lambda w: (load[w], workers.index(w)))
        placed[worker].append(source)
        load[worker] += source.rows
    return {w: sorted(group, key=lambda s: s.index) for w, group in placed.items() if group}


def merged_lse(pairs: list[tuple[np.ndarray, np.ndarray]], dtype: torch.dtype) -> torch.Tensor:
    """log Σ exp from the groups' per-anchor (max, Σ exp(· − max)) pairs [m]; -inf where no row reaches."""
    top, total = (torch.from_numpy(np.asarray(a)).to(dtype) for a in pairs[0])
    for pair in pairs[1:]:
        top, total = merge_lse(top, total, *(torch.from_numpy(np.asarray(a)).to(dtype) for a in pair))
    return torch.log(total) + top


def _nbytes(value) -> int:
    """Payload bytes of a call's arguments or replies: arrays by size, numbers as 8 bytes."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 8 if isinstance(value, (int, float, np.number)) else 0


class ShardedCorpus:
    """Shards read and held by Dask workers (one ShardGroup actor per worker); see the module docstring.

    `n` is the number of good rows; `shards` lists per shard its index, rows read, good and bad rows."""

    def __init__(self, client, sources: list[ShardSource]):
        workers = sorted(client.scheduler_info()["workers"])
        self.client, self.layout = client, place_shards(sources, workers)
        self.traffic = {"sent": 0, "received": 0, "calls": 0, "gathered": 0}
        self._futures = [client.submit(ShardGroup, group, actor=True, workers=[w], allow_other_workers=True,
                                       pure=False) for w, group in self.layout.items()]
        self.groups = self._wait(self._futures, "starting the shard holders")
        # rows as the manifests list them until the workers read the shards (build_kernels, refresh)
        self.shards = [{"index": s.index, "rows": s.rows, "good": s.rows, "bad": 0, "bad_ids": []}
                       for s in sorted(sources, key=lambda s: s.index)]
        self.n = sum(s.rows for s in sources)

    def refresh(self) -> None:
        """Rows read, good and bad per shard, and n (good rows), as the workers found them."""
        self.shards = sorted((row for reply in self.call("summary") for row in reply), key=lambda r: r["index"])
        self.n = sum(r["good"] for r in self.shards)

    def check_rows(self, on_error: str, name: str = "corpus") -> None:
        """Fail on NaN/inf/all-zero rows under --on-error fail (naming the first ids), and on no usable row."""
        bad = sum(s["bad"] for s in self.shards)
        if bad and on_error == "fail":
            ids = [i for s in self.shards for i in s["bad_ids"]][:5]
            raise InputError(f"{name}: {bad} row(s) have NaN/inf or all-zero embeddings (ids: {ids}); "
                             "fix them or pass --on-error skip to drop and count them")
        if self.n == 0:
            raise InputError(f"{name}: no row has a usable embedding; check the input")

    @property
    def bad_rows(self) -> int:
        """Rows dropped for a NaN/inf/all-zero vector (under --on-error skip)."""
        return sum(s["bad"] for s in self.shards)

    def _wait(self, futures, doing: str) -> list:
        try:
            return [f.result() for f in futures]
        except Exception as err:
            from embed.dask import WorkerLostError, worker_lost  # here: the solve itself needs no embed stage

            if not worker_lost(err):
                raise
            raise WorkerLostError(
                f"a Dask worker was lost while {doing} ({type(err).__name__}: {err}); the shards it held "
                f"({self._shards_of_lost()}) lost their state, so nothing was written. Rerun the same command: "
                "workers read their shards again and rebuild their kernels (give workers more memory if one "
                "was killed for lack of it)") from err

    def _shards_of_lost(self) -> str:
        try:
            alive = set(self.client.scheduler_info()["workers"])
        except OSError:
            return "unknown"
        gone = [s.index for w, group in self.layout.items() if w not in alive for s in group]
        return f"shards {gone}" if gone else "unknown"

    def call(self, method: str, *args) -> list:
        """`method(*args)` on every group; the replies in group order."""
        return self._call(method, args, "received")

    def _call(self, method: str, args: tuple, counter: str) -> list:
        replies = self._wait([getattr(group, method)(*args) for group in self.groups], f"running {method}")
        self.traffic["sent"] += _nbytes(args) * len(self.groups)
        self.traffic[counter] += _nbytes(replies)  # 'received' (O(m) replies) or 'gathered' (per-row replies)
        self.traffic["calls"] += len(self.groups)
        return replies

    def sum(self, method: str, *args):
        """The sum of the groups' replies (numbers or arrays)."""
        replies = self.call(method, *args)
        return sum(replies[1:], replies[0])

    def rows(self, method: str, *args) -> list[np.ndarray]:
        """Per-shard replies (shard index, array, ...) concatenated in shard order: one [n] array per field."""
        replies = self._call(method, args, "gathered")
        parts = sorted((part for reply in replies for part in reply), key=lambda p: p[0])
        fields = len(parts[0]) - 1
        return [np.concatenate([p[k + 1] for p in parts]) for k in range(fields)]

    def build_kernels(self, anchors: dict[str, np.ndarray], settings) -> dict[str, torch.Tensor | None]:
        """Workers read their shards and build each one's kernel per problem ('pull', 'push'); returns per problem
        the anchors no row reaches [m] (bool; sparse kernels) or None (stream kernels reach every anchor)."""
        isolated: dict[str, torch.Tensor | None] = {}
        replies = self.call("build", anchors, settings)
        self.refresh()
        for name in anchors:
            counts = [r[name] for r in replies]
            isolated[name] = None if counts[0] is None else torch.from_numpy(sum(counts[1:], counts[0]) == 0)
        return isolated

    def shard_ids(self, index: int) -> tuple[list[str], np.ndarray]:
        """Ids of every row read from shard `index` and its good-row mask, from the worker that holds it."""
        for group, sources in zip(self.groups, self.layout.values()):
            if any(s.index == index for s in sources):
                ids, good = self._wait([group.shard_ids(index)], "reading a shard's ids")[0]
                self.traffic["gathered"] += sum(len(i) for i in ids) + good.nbytes
                return ids, good
        raise KeyError(f"no worker holds shard {index}")

    def close(self) -> None:
        """Release the actors, and with them every shard's state on the workers."""
        self.groups, self._futures = [], []


def _shard_row_lse(x: np.ndarray, y: np.ndarray, h: np.ndarray, eps: float) -> np.ndarray:
    return StreamKernel(torch.from_numpy(x), torch.from_numpy(y), eps).row_lse(torch.from_numpy(h)).numpy()


def _shard_col_partial(x: np.ndarray, y: np.ndarray, h: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    v = torch.from_numpy(h)[:, None] - (1.0 - torch.from_numpy(x) @ torch.from_numpy(y).T).clamp_(0.0, 2.0).to(
        torch.from_numpy(h).dtype) / eps
    top = v.max(dim=0).values
    safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return top.numpy(), torch.exp(v - safe).sum(dim=0).numpy()


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
