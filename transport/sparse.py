"""kNN-sparse log-kernel: each source keeps only its `knn` nearest anchors (FAISS inner-product search).

The sparse cost is C_ij = 1 − cos(x_i, y_j) for j in the top-knn anchors of x_i and +inf elsewhere, stored as two
dense [n, knn] arrays (anchor index, cost). Anchors that are no source's neighbour get no mass; with a semi-relaxed
anchor marginal (finite rho, see sinkhorn.py) that costs rho·b_j and the problem stays feasible. With knn = m and
rho = None the sparse kernel equals the dense one.

A row's kNN graph must not depend on where it is searched: FAISS's float32 similarities differ by ~1e-7 between
thread counts, batch sizes and devices, which flips the k-th neighbour of a row whose k-th and (k+1)-th anchors
are that close. One flipped edge can move a sparsely reached anchor's whole mass to another row (measured: Dask
workers with one OpenMP thread against a local run with two, 1e-2 apart in a weight at n = 2e4). knn_anchors
therefore searches KNN_MARGIN candidates more and decides near ties (gap < TIE_TOL) with costs recomputed in
float64 row by row, ties broken by the lower anchor index, so every layout gets the same graph.
"""

from __future__ import annotations

import numpy as np
import torch

from curate.errors import ConfigError

__all__ = ["SparseKernel", "SparseScaling", "knn_anchors", "settle_ties", "build_anchor_index"]

KNN_MARGIN = 8
"""Candidates searched beyond the k-th, among which near ties at the k-th place are decided exactly."""
TIE_TOL = 1e-5
"""Cost gap between the k-th and (k+1)-th candidate below which FAISS's float32 order is not trusted (its rounding
differences are ~1e-6 for unit vectors of a few hundred dimensions)."""


def build_anchor_index(y: np.ndarray, kind: str = "auto", seed: int = 0):
    """A FAISS inner-product index over unit anchors y [m, d]: flat (m ≤ 20k), HNSW (≤ 1M) or IVF ('auto')."""
    import faiss

    m, d = y.shape
    if kind == "auto":
        kind = "flat" if m <= 20_000 else ("hnsw" if m <= 1_000_000 else "ivf")
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    elif kind == "ivf":
        nlist = max(1, min(int(4 * np.sqrt(m)), m // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(y)
        index.nprobe = min(nlist, 32)
    else:
        raise ConfigError(f"anchor index kind must be auto|flat|hnsw|ivf (got {kind!r})")
    index.add(y)
    return index


def knn_anchors(
    x: np.ndarray, y: np.ndarray, knn: int, *, index: str = "auto", batch_size: int = 65_536, seed: int = 0,
    progress: bool = False, place=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-knn anchors per source: (cost [n, knn] float32 = 1 − cos, anchor index [n, knn] int64; −1 = none), with
    near ties at the k-th place settled exactly (module docstring): a row's graph does not depend on the other rows
    searched with it, the thread count or the device.

    place: optional index -> index applied to the built FAISS index before searching (e.g. moving it to a GPU)."""
    from tqdm.auto import tqdm

    m = y.shape[0]
    if knn > m:
        raise ConfigError(f"--knn {knn} is larger than the anchor set ({m} anchors); use --knn {m} or less")
    if knn < 1:
        raise ConfigError(f"--knn must be ≥ 1 (got {knn})")
    searcher = build_anchor_index(np.ascontiguousarray(y, dtype=np.float32), index, seed)
    searcher = place(searcher) if place is not None else searcher
    wide = knn + min(KNN_MARGIN, m - knn)  # candidates beyond the k-th, to settle near ties among
    costs = np.empty((x.shape[0], wide), dtype=np.float32)
    idx = np.empty((x.shape[0], wide), dtype=np.int64)
    for start in tqdm(range(0, x.shape[0], batch_size), desc="kNN anchors", disable=not progress, leave=False):
        sim, nn = searcher.search(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32), wide)
        costs[start : start + batch_size] = np.clip(1.0 - sim, 0.0, 2.0)
        idx[start : start + batch_size] = nn
    return settle_ties(x, y, costs, idx, knn)


def settle_ties(x: np.ndarray, y: np.ndarray, cost: np.ndarray, idx: np.ndarray, knn: int, *,
                tol: float = TIE_TOL, batch_rows: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The first `knn` of sorted candidates (cost, idx) [n, K ≥ knn]; rows whose k-th and (k+1)-th candidate costs
    are within `tol` take their `knn` cheapest candidates by float64 cost 1 − x·y (lower anchor index first on
    equal cost) instead. Returns float32 costs and int64 indices [n, knn]; −1 (no candidate) stays last."""
    if cost.shape[1] <= knn:
        return cost, idx
    out_cost, out_idx = cost[:, :knn].copy(), idx[:, :knn].copy()  # never a view: rows are rewritten
    near = np.flatnonzero((cost[:, knn] - cost[:, knn - 1] < tol) & (idx[:, knn] >= 0))
    for start in range(0, len(near), batch_rows):
        rows = near[start : start + batch_rows]
        exact = _exact_costs(x[rows], y, idx[rows])
        order = np.lexsort((idx[rows], exact), axis=-1)[:, :knn]
        out_idx[rows] = np.take_along_axis(idx[rows], order, axis=1)
        out_cost[rows] = np.clip(np.take_along_axis(exact, order, axis=1), 0.0, 2.0)
    return out_cost, out_idx


def _exact_costs(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """1 − x_r · y_idx[r, c] in float64 [rows, K] (+inf where idx = −1); each entry is one dot product summed the
    same way whatever the other rows, so equal inputs give equal costs on any machine layout."""
    anchors = y[np.maximum(idx, 0)].astype(np.float64)  # [rows, K, d]
    sims = (anchors * x.astype(np.float64)[:, None, :]).sum(axis=-1)  # a pairwise sum along d per entry
    return np.where(idx >= 0, 1.0 - sims, np.inf)


class SparseScaling:
    """K̃ on the kNN edges [n, knn] (0 on missing edges): row(v) gathers, col(u) scatter-adds."""

    def __init__(self, kernel: SparseKernel, f: torch.Tensor, g: torch.Tensor):
        self.kernel = kernel
        self.k = torch.sub(g[kernel.index], kernel.cost.to(f.dtype)).add_(f[:, None]).div_(kernel.eps).exp_()

    def row(self, v: torch.Tensor) -> torch.Tensor:
        return (self.k * v[self.kernel.index]).sum(dim=1)

    def col(self, u: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.kernel.m, dtype=u.dtype, device=u.device)
        return out.index_add_(0, self.kernel.flat, (self.k * u[:, None]).reshape(-1))

    def isolated(self) -> torch.Tensor:
        return self.kernel.isolated()


class SparseKernel:
    """LogKernel over the kNN graph: row/column log-sum-exps by gather and scatter over [n, knn] arrays."""

    def __init__(self, cost: torch.Tensor, index: torch.Tensor, m: int, eps: float):
        missing = index < 0
        self.index = torch.where(missing, torch.zeros_like(index), index)
        self.flat = self.index.reshape(-1)
        self.cost = torch.where(missing, torch.full_like(cost, float("inf")), cost)  # [n, knn], +inf = no edge
        self.n, self.m, self.eps = cost.shape[0], int(m), float(eps)

    def isolated(self) -> torch.Tensor:
        """Anchors that are no source's neighbour [m] (bool)."""
        edges = torch.isfinite(self.cost).reshape(-1)
        counts = torch.zeros(self.m, dtype=torch.int64, device=self.cost.device)
        return counts.index_add_(0, self.flat, edges.to(torch.int64)) == 0

    def row_lse(self, h: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(torch.sub(h[self.index], self.cost, alpha=1.0 / self.eps), dim=1)

    def col_lse(self, h: torch.Tensor) -> torch.Tensor:
        v = torch.sub(h[:, None], self.cost, alpha=1.0 / self.eps).reshape(-1)
        top = torch.full((self.m,), float("-inf"), dtype=v.dtype, device=v.device)
        top = top.scatter_reduce(0, self.flat, v, reduce="amax", include_self=True)
        safe_top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        total = torch.zeros_like(top).index_add_(0, self.flat, torch.exp(v - safe_top[self.flat]))
        return torch.log(total) + safe_top

    def absorb(self, f: torch.Tensor, g: torch.Tensor) -> SparseScaling:
        return SparseScaling(self, f, g)
