"""Interval estimates and paired tests for evaluation figures (numpy/scipy only).

- `wilson_interval` / `rate`: a proportion k/n with its Wilson score interval, which keeps its coverage near
  0 and 1 and on small n, where the normal ("Wald") interval collapses to a point.
- `mcnemar`: two arms judged on the same prompts; only the discordant pairs carry information.
- `paired_bootstrap`: two arms scored on the same examples by a continuous value (e.g. token NLL).
"""

from __future__ import annotations

import math

import numpy as np

from curate.errors import InputError

__all__ = ["wilson_interval", "rate", "mcnemar", "mcnemar_counts", "paired_bootstrap", "EXACT_BELOW"]

EXACT_BELOW = 25
"""McNemar uses the exact binomial test when there are fewer discordant pairs than this."""


def _z(confidence: float) -> float:
    from scipy.stats import norm

    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence {confidence}: must lie strictly between 0 and 1 (e.g. 0.95)")
    return float(norm.ppf(0.5 + confidence / 2))


def _check_count(k: int, n: int) -> tuple[int, int]:
    if int(k) != k or int(n) != n or not 0 <= k <= n:
        raise InputError(f"count k={k} of n={n}: need whole numbers with 0 <= k <= n")
    return int(k), int(n)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for the proportion k/n.

    With p = k/n and z the two-sided normal quantile of `confidence`:
        centre = (p + z²/2n) / (1 + z²/n),   half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
    The bounds are exactly 0 when k = 0 and exactly 1 when k = n. n = 0 gives (nan, nan): no data is no
    estimate, and a 0 there would read as a measured rate.
    """
    k, n = _check_count(k, n)
    z = _z(confidence)
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def rate(k: int, n: int, confidence: float = 0.95) -> dict:
    """{rate, low, high, k, n}: the proportion k/n and its Wilson interval (rate nan when n = 0)."""
    k, n = _check_count(k, n)
    low, high = wilson_interval(k, n, confidence)
    return {"rate": k / n if n else float("nan"), "low": low, "high": high, "k": k, "n": n}


def _paired(a, b, what: str, dtype) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype)
    if a.ndim != 1 or a.shape != b.shape:
        raise InputError(f"{what}: need two 1-d arrays of the same length (one entry per shared example), "
                         f"got shapes {a.shape} and {b.shape}")
    return a, b


def mcnemar(a, b) -> dict:
    """McNemar's test that two arms have the same rate, from paired outcomes a[i], b[i] on the same prompts.

    b01 counts prompts where a is False and b True, b10 the reverse. With m = b01 + b10 discordant pairs:
    - m < EXACT_BELOW: exact two-sided binomial test, statistic = min(b01, b10),
      p = min(1, 2·P[Bin(m, 1/2) <= min(b01, b10)]);
    - otherwise: chi-square with 1 degree of freedom and continuity correction,
      statistic = max(0, |b01 - b10| - 1)² / m (the correction never pushes past zero).
    `exact_p` is the exact two-sided binomial p whatever m is (for tables that want one test throughout).
    """
    a, b = _paired(a, b, "mcnemar", bool)
    return mcnemar_counts(int((~a & b).sum()), int((a & ~b).sum()))


def mcnemar_counts(b01: int, b10: int) -> dict:
    """McNemar's test from the two discordant counts (see `mcnemar`); summed over strata it is the Mantel-Haenszel
    test for stratified matched pairs."""
    from scipy.stats import binom, chi2

    m = b01 + b10
    exact_p = min(1.0, 2.0 * float(binom.cdf(min(b01, b10), m, 0.5))) if m else 1.0
    if m < EXACT_BELOW:
        statistic, p_value = float(min(b01, b10)), exact_p
        method = "exact binomial"
    else:
        statistic = max(0.0, abs(b01 - b10) - 1.0) ** 2 / m
        p_value = float(chi2.sf(statistic, 1))
        method = "chi-square, continuity-corrected"
    return {"b01": b01, "b10": b10, "statistic": statistic, "p_value": p_value, "method": method, "exact_p": exact_p}


def _bootstrap_means(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[n_boot] resampled means of x - y and of y, drawn in chunks so memory stays ~16 MB."""
    rng = np.random.default_rng(seed)
    n = x.size
    chunk = max(1, 2_000_000 // n)
    diffs, bases = [], []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        diffs.append((x[idx] - y[idx]).mean(axis=1))
        bases.append(y[idx].mean(axis=1))
    return np.concatenate(diffs), np.concatenate(bases)


def paired_bootstrap(x, y, n_boot: int = 10_000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Paired bootstrap of the mean difference mean(x - y) over examples scored by both arms.

    Examples are resampled with replacement n_boot times (the same indices for x and y, which keeps the
    pairing). Returns mean_diff with its percentile interval [low, high]; p_value, two-sided, from the
    bootstrap distribution shifted to the null (mean 0): (1 + #{|d* - mean_diff| >= |mean_diff|}) / (1 + n_boot),
    so it is never 0; and the relative difference 100·mean(x - y)/mean(y) in % with its percentile interval
    (nan when mean(y) = 0).
    """
    x, y = _paired(x, y, "paired_bootstrap", np.float64)
    if x.size == 0:
        raise InputError("paired_bootstrap: no examples (both arrays are empty)")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("paired_bootstrap: values must be finite; drop the NaN/inf examples from both arms first")
    if n_boot < 1:
        raise InputError(f"n_boot {n_boot}: must be >= 1 (10,000 is usual)")
    _z(confidence)
    mean_diff, base = float((x - y).mean()), float(y.mean())
    diffs, bases = _bootstrap_means(x, y, n_boot, seed)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    p_value = (1 + int((np.abs(diffs - mean_diff) >= abs(mean_diff) * (1 - 1e-9)).sum())) / (1 + n_boot)
    relative = {"relative_diff_pct": float("nan"), "relative_low_pct": float("nan"), "relative_high_pct": float("nan")}
    if base != 0 and (bases != 0).all():
        rel_low, rel_high = np.percentile(100 * diffs / bases, [tail, 100 - tail])
        relative = {"relative_diff_pct": 100 * mean_diff / base, "relative_low_pct": float(rel_low),
                    "relative_high_pct": float(rel_high)}
    return {"mean_diff": mean_diff, "low": float(low), "high": float(high), "p_value": min(1.0, p_value),
            **relative, "n": int(x.size), "n_boot": int(n_boot)}
