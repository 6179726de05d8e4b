"""Held-out SAE figures with intervals: FVU and dead-latent share, bootstrapped over held-out records.

Tokens of one record are correlated, so the bootstrap resamples whole records (a cluster bootstrap) rather
than tokens. Per record r the scorer keeps E_r = Σ_t ||x_t − x̂_t||², n_r, Q_r = Σ_t ||x'_t||², S_r = Σ_t x'_t
(x' = x minus the held-out mean) and F_r ⊂ latents (those that fired on a token of r). With record counts w
of one resample:
    FVU(w)  = w·E / (w·Q − ||wᵀS||² / w·n)          (the variance about the resample's own mean)
    dead(w) = share of latents in no F_r with w_r > 0
w = 1 gives the point estimates, which equal `train.sae.metrics.evaluate` on the same tokens. Every run scored
against one held-out set uses the same resamples, so differences between runs are paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["HeldOut", "RecordStats", "load_held_out", "record_stats", "resample_counts", "bootstrap",
           "percentile_interval", "seed_interval"]


@dataclass(frozen=True)
class HeldOut:
    """Held-out activations [N, d] and the record (0..R-1) each token belongs to."""

    vectors: np.ndarray
    record: np.ndarray

    @property
    def num_records(self) -> int:
        return int(self.record.max()) + 1 if len(self.record) else 0


@dataclass(frozen=True)
class RecordStats:
    """One SAE's per-record sums on a HeldOut set (see the module docstring)."""

    error: np.ndarray  # E [R]
    tokens: np.ndarray  # n [R]
    square: np.ndarray  # Q [R]
    total: np.ndarray  # S [R, d]
    fired: np.ndarray  # F [R, m] bool
    l0: float


def load_held_out(folder: str | Path, max_tokens: int, seed: int = 0, skip_first_token: bool = True) -> HeldOut:
    """Whole records of a held-out activation folder, a seeded subset of them when there are over `max_tokens`."""
    from train.sae.data import open_activations

    source = open_activations(folder, skip_first_token=skip_first_token, option="--held")
    vectors, ids = zip(*(source.read_records(name) for name in source.shards))
    x, names = np.concatenate(vectors), np.concatenate(ids)
    _, record = np.unique(names, return_inverse=True)
    if len(x) > max_tokens:
        counts = np.bincount(record)
        order = np.random.default_rng(seed).permutation(len(counts))
        chosen = order[np.cumsum(counts[order]) <= max_tokens]
        keep = np.isin(record, chosen)
        x, record = x[keep], np.unique(record[keep], return_inverse=True)[1]
    return HeldOut(np.ascontiguousarray(x, dtype=np.float32), record.astype(np.int64))


@torch.no_grad()
def record_stats(sae, held: HeldOut, batch_size: int = 4096) -> RecordStats:
    """Encode every held-out token once and sum the figures per record."""
    sae.eval()
    device = sae.W_dec.device
    num = held.num_records
    mean = held.vectors.astype(np.float64).mean(0)
    error = np.zeros(num)
    fired = np.zeros((num, sae.width), dtype=bool)
    active = 0
    for start in range(0, len(held.vectors), batch_size):
        x = torch.as_tensor(held.vectors[start:start + batch_size], device=device)
        recon, codes = sae(x)
        rows = held.record[start:start + batch_size]
        np.add.at(error, rows, (x - recon).pow(2).sum(1).double().cpu().numpy())
        live = (codes.values > 0).cpu().numpy()
        fired[rows[codes.rows.cpu().numpy()[live]], codes.cols.cpu().numpy()[live]] = True
        active += int(live.sum())
    centred = held.vectors.astype(np.float64) - mean
    tokens = np.bincount(held.record, minlength=num).astype(np.float64)
    square = np.bincount(held.record, weights=(centred ** 2).sum(1), minlength=num)
    total = np.zeros((num, centred.shape[1]))
    np.add.at(total, held.record, centred)
    return RecordStats(error, tokens, square, total, fired, active / max(1, len(held.vectors)))


def resample_counts(num_records: int, resamples: int, seed: int = 0) -> np.ndarray:
    """[B, R] counts of each record in B bootstrap resamples of R records (shared by all runs: paired)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(num_records, np.full(num_records, 1 / num_records), size=resamples).astype(np.float64)


def bootstrap(stats: RecordStats, counts: np.ndarray) -> dict[str, np.ndarray]:
    """FVU and dead share per weight vector: counts [B, R] → {"fvu": [B], "dead": [B]}."""
    tokens = counts @ stats.tokens
    spread = counts @ stats.total
    variance = counts @ stats.square - (spread ** 2).sum(1) / tokens
    fvu = (counts @ stats.error) / np.maximum(variance, 1e-12)
    alive = (counts > 0).astype(np.float32) @ stats.fired.astype(np.float32) > 0
    return {"fvu": fvu, "dead": 1.0 - alive.mean(1)}


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> list[float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def seed_interval(values: list[float], confidence: float = 0.95) -> list[float] | None:
    """Student-t interval of the mean over seeds (None for a single seed)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return None
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return [float(values.mean() - half), float(values.mean() + half)]
