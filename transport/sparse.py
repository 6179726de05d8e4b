"""kNN-sparse log-kernel: each source keeps only its `knn` nearest anchors (FAISS inner-product search).

The sparse cost is C_ij = 1 − cos(x_i, y_j) for j in the top-knn anchors of x_i and +inf elsewhere, stored as two
dense [n, knn] arrays (anchor index, cost). Anchors that are no source's neighbour get no mass; with a semi-relaxed
anchor marginal (finite rho, see sinkhorn.py) that costs rho·b_j and the problem stays feasible. With knn = m and
rho = None the sparse kernel equals the dense one.
"""

from __future__ import annotations

import numpy as np
import torch

from curate.errors import ConfigError

__all__ = ["SparseKernel", "SparseScaling", "knn_anchors", "build_anchor_index"]


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
    """Top-knn anchors per source: (cost [n, knn] float32 = 1 − cos, anchor index [n, knn] int64; −1 = none).

    place: optional index -> index applied to the built FAISS index before searching (e.g. moving it to a GPU)."""
    from tqdm.auto import tqdm

    m = y.shape[0]
    if knn > m:
        raise ConfigError(f"--knn {knn} is larger than the anchor set ({m} anchors); use --knn {m} or less")
    if knn < 1:
        raise ConfigError(f"--knn must be ≥ 1 (got {knn})")
    searcher = build_anchor_index(np.ascontiguousarray(y, dtype=np.float32), index, seed)
    searcher = place(searcher) if place is not None else searcher
    costs = np.empty((x.shape[0], knn), dtype=np.float32)
    idx = np.empty((x.shape[0], knn), dtype=np.int64)
    for start in tqdm(range(0, x.shape[0], batch_size), desc="kNN anchors", disable=not progress, leave=False):
        sim, nn = searcher.search(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32), knn)
        costs[start : start + batch_size] = np.clip(1.0 - sim, 0.0, 2.0)
        idx[start : start + batch_size] = nn
    return costs, idx


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
