"""Stimulus retrieval: FAISS candidates per concept, re-ranked by the probabilistic (cross-modal) distance.

For a concept c and a stimulus x with unit embeddings, the concept probability of x is a softmax over the
vocabulary, s(c, x) = exp(t·cos(c, x)) / Σ_c' exp(t·cos(c', x)) (t = `scale`, CLIP's logit scale), and the
distance is dist(c, x) = sqrt(−(ln s(c, x_img) + ln s(c, x_txt))) for image-caption pairs, sqrt(−ln s(c, x_txt))
for text. A stimulus that fits many concepts is therefore far from each of them. Positives: the `positives`
closest of the `candidates` nearest (by cosine) stimuli; negatives: the `negatives` farthest of a fixed random
background sample of the retrieved positives of all concepts (so negatives share the positives' style, and
the activation pass covers the positives only).

The FAISS search runs on the GPU of `device` when that is CUDA and FAISS has GPU support (faiss-gpu,
`faiss.get_num_gpus() > 0`), on the CPU otherwise; both give the same neighbours up to float rounding and ties.
HNSW indexes and searches for more than 2,048 neighbours (FAISS's GPU limit) stay on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from curate.errors import ConfigError, InputError

if TYPE_CHECKING:
    import torch

__all__ = ["Retrieval", "build_index", "log_normaliser", "retrieve", "search_device"]

IndexKind = Literal["auto", "flat", "ivf", "hnsw"]

_GPU_MAX_K = 2048  # the most neighbours FAISS's GPU indexes return per query


@dataclass
class Retrieval:
    """pos_index/pos_dist [K, p] and neg_index/neg_dist [K, n] into the pool (−1 / inf where a concept has
    fewer positives passing `min_similarity`); `index_kind` is the FAISS index used and `search_device` where it
    searched ("cpu" or "cuda:N")."""

    pos_index: np.ndarray
    pos_dist: np.ndarray
    neg_index: np.ndarray
    neg_dist: np.ndarray
    index_kind: str
    search_device: str = "cpu"

    @property
    def n_pos(self) -> np.ndarray:
        return (self.pos_index >= 0).sum(1)


def build_index(vectors: np.ndarray, kind: IndexKind = "auto", seed: int = 0):
    """Inner-product FAISS index over unit rows [n, d]: flat up to 50,000 rows, IVF (nprobe 16) above; or HNSW."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if kind == "auto":
        kind = "flat" if n <= 50_000 else "ivf"
    if kind == "flat" or (kind == "ivf" and n < 2_000):
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    elif kind == "ivf":
        nlist = int(4 * np.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).choice(n, min(n, 40 * nlist), replace=False)
        index.train(vectors[np.sort(sample)])
        index.nprobe = 16
    else:
        raise ConfigError(f"--index {kind!r} is not one of auto, flat, ivf, hnsw")
    index.add(vectors)
    return index


def search_device(device: str | torch.device, k: int) -> torch.device:
    """Where a k-nearest search should run: the CUDA `device` ('auto' is CUDA when torch sees one) when FAISS can
    use a GPU and k is within its GPU limit, the CPU otherwise. 'cuda' without CUDA is a ConfigError."""
    import torch

    from curate.device import resolve_device
    from transport.dask_kernels import faiss_gpu_count

    resolved = resolve_device(device)
    if resolved.type != "cuda" or k > _GPU_MAX_K or faiss_gpu_count() == 0:
        return torch.device("cpu")
    return torch.device("cuda", resolved.index or 0)


def _nearest(vectors: np.ndarray, queries: np.ndarray, k: int, kind: IndexKind, seed: int,
             device: torch.device) -> tuple[np.ndarray, bool]:
    """Indices [K, k] of the k most similar rows of `vectors` per query, and whether FAISS searched on a GPU."""
    from transport.dask_kernels import faiss_on_device

    index = build_index(vectors, kind, seed)
    searcher = faiss_on_device(index, device)
    return searcher.search(queries, k)[1], searcher is not index


def log_normaliser(concepts: np.ndarray, stimuli: np.ndarray, scale: float, block: int = 4096) -> np.ndarray:
    """[n] = log Σ_c exp(scale · cos(c, x)) for each stimulus row x (concepts [K, d], stimuli [n, d], unit rows)."""
    import torch

    c = torch.from_numpy(np.ascontiguousarray(concepts, dtype=np.float32))
    out = np.empty(len(stimuli), dtype=np.float32)
    for start in range(0, len(stimuli), block):
        x = torch.from_numpy(np.ascontiguousarray(stimuli[start:start + block], dtype=np.float32))
        out[start:start + block] = torch.logsumexp(scale * (x @ c.T), dim=1).numpy()
    return out


def _log_prob_pairs(concepts, views, normalisers, cand, scale, block: int = 2048):
    """Σ_views ln s(c, x_view) and the caption cosine for candidate stimuli cand [K, m] (−1 = none)."""
    K, m = cand.shape
    log_s, cos = np.zeros((K, m)), np.zeros((K, m), dtype=np.float32)
    safe = np.maximum(cand, 0)
    for start in range(0, K, block):
        rows = slice(start, start + block)
        for vectors, lse in zip(views, normalisers):
            c = np.einsum("kd,kmd->km", concepts[rows], vectors[safe[rows]])
            log_s[rows] += scale * c - lse[safe[rows]]
        cos[rows] = c
    return log_s, cos


def _log_prob_matrix(concepts, views, normalisers, columns, scale):
    """[K, len(columns)] Σ_views ln s(c, x_view) for a fixed set of stimuli (the negative background)."""
    out = np.zeros((len(concepts), len(columns)))
    for vectors, lse in zip(views, normalisers):
        out += scale * (concepts @ vectors[columns].T) - lse[columns][None, :]
    return out


def _check(concepts: np.ndarray, views: list[np.ndarray], positives: int, negatives: int) -> None:
    if len(concepts) == 0:
        raise InputError("retrieval: the concept list is empty; give at least one concept")
    if len(views[0]) == 0:
        raise InputError("retrieval: the stimulus pool is empty; give a pool with at least one stimulus")
    for v in views:
        if v.shape[1] != concepts.shape[1]:
            raise InputError(f"retrieval: concept embeddings are {concepts.shape[1]}-d but stimuli are "
                             f"{v.shape[1]}-d; embed both with the same model")
    if positives < 1 or negatives < 1:
        raise ConfigError(f"--positives {positives} / --negatives {negatives}: both must be at least 1")


def retrieve(concepts: np.ndarray, captions: np.ndarray, *, images: np.ndarray | None = None, positives: int = 8,
             negatives: int = 8, candidates: int = 32, background: int = 2048, scale: float = 20.0,
             min_similarity: float = 0.0, index: IndexKind = "auto", seed: int = 0,
             device: str | torch.device = "auto") -> Retrieval:
    """Positives and negatives per concept. concepts [K, d], captions (and images) [n, d], all unit rows; the
    FAISS search runs where `search_device(device, k)` says."""
    views = [captions] if images is None else [images, captions]
    _check(concepts, views, positives, negatives)
    n, k = len(captions), min(max(candidates, positives), len(captions))
    where = search_device(device, k)
    queries = np.ascontiguousarray(concepts, dtype=np.float32)
    found = [_nearest(v, queries, k, index, seed, where) for v in views]
    cand = np.concatenate([nearest for nearest, _ in found], axis=1)
    on_gpu = any(gpu for _, gpu in found)
    lse = [np.zeros(n, dtype=np.float32) for _ in views]
    needed = np.unique(cand[cand >= 0])
    for full, v in zip(lse, views):
        full[needed] = log_normaliser(concepts, v[needed], scale)
    pos_index, pos_dist = _positives(concepts, views, lse, cand, positives, scale, min_similarity)
    back = _background(pos_index, n, background, negatives, np.random.default_rng(seed))
    neg_index, neg_dist = _negatives(concepts, views, lse, back, negatives, scale)
    kind = ("flat" if n <= 50_000 else "ivf") if index == "auto" else index
    return Retrieval(pos_index, pos_dist, neg_index, neg_dist, kind, str(where) if on_gpu else "cpu")


def _positives(concepts, views, lse, cand, positives, scale, min_similarity):
    log_s, cos = _log_prob_pairs(concepts, views, lse, cand, scale)
    dist = np.sqrt(np.maximum(-log_s, 0.0))
    dist[(cand < 0) | (cos < min_similarity)] = np.inf
    dist = _drop_repeats(cand, dist)
    order = np.argsort(dist, axis=1, kind="stable")[:, :positives]
    index = np.take_along_axis(cand, order, 1)
    best = np.take_along_axis(dist, order, 1)
    index[~np.isfinite(best)] = -1
    return index, best


def _drop_repeats(cand: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """A stimulus found through both views appears twice among the candidates; keep one copy."""
    if cand.shape[1] < 2:
        return dist
    order = np.argsort(cand, axis=1, kind="stable")
    sorted_c = np.take_along_axis(cand, order, 1)
    repeat = np.zeros_like(sorted_c, dtype=bool)
    repeat[:, 1:] = sorted_c[:, 1:] == sorted_c[:, :-1]
    out = dist.copy()
    np.put_along_axis(out, order, np.where(repeat, np.inf, np.take_along_axis(dist, order, 1)), 1)
    return out


def _background(pos_index: np.ndarray, n: int, size: int, negatives: int, rng) -> np.ndarray:
    """A random sample of the retrieved positives (the pool when they are too few): negatives then share the
    positives' style (definitions vs manual prose), so a direction is not just "retrieved text − pool"."""
    source = np.unique(pos_index[pos_index >= 0])
    if len(source) <= negatives:
        source = np.arange(n)
    return np.sort(rng.choice(source, min(size, len(source)), replace=False))


def _negatives(concepts, views, lse, back, negatives, scale):
    dist = np.sqrt(np.maximum(-_log_prob_matrix(concepts, views, lse, back, scale), 0.0))
    order = np.argsort(-dist, axis=1, kind="stable")[:, :negatives]
    return back[order], np.take_along_axis(dist, order, 1)
