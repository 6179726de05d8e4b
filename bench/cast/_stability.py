"""How stable a CAST head map is: the same model diagnosed on two disjoint calibration draws.

For per-head scores a, b (layer-major, N heads) and a fraction rho, k = max(1, round(rho N)):
- spearman(a, b): rank correlation of the two maps' values (for score, conflict and sensitivity);
- top_overlap(a, b, rho) = |top_k(a) ∩ top_k(b)| / k, the share of the skipped set both draws agree on;
  two unrelated maps overlap by k/N on average (`chance`), so an overlap near chance means the map is noise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["spearman", "top_set", "top_overlap", "map_stability"]

COMPARED = ("score", "conflict", "sensitivity")


def spearman(a, b) -> float:
    """Spearman rank correlation of two equal-length vectors (ties get mean ranks); nan if one is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.asarray(a, dtype=np.float64)), rankdata(np.asarray(b, dtype=np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def top_set(values, rho: float) -> set[int]:
    """Indices of the k = max(1, round(rho N)) largest values; ties broken by index (as `select_heads` does)."""
    values = np.asarray(values, dtype=np.float64)
    k = max(1, int(round(rho * values.size)))
    return set(np.lexsort((np.arange(values.size), -values))[:k].tolist())


def top_overlap(a, b, rho: float) -> float:
    """|top_k(a) ∩ top_k(b)| / k."""
    ta, tb = top_set(a, rho), top_set(b, rho)
    return len(ta & tb) / len(ta)


def map_stability(columns_a: dict, columns_b: dict, rhos: list[float]) -> dict:
    """Spearman of score/conflict/sensitivity and the top-rho overlap (with its chance level) of two maps."""
    if len(columns_a["score"]) != len(columns_b["score"]):
        raise ValueError(f"map_stability: maps of {len(columns_a['score'])} and {len(columns_b['score'])} heads")
    n = len(columns_a["score"])
    out: dict = {"heads": n, "spearman": {c: spearman(columns_a[c], columns_b[c]) for c in COMPARED}}
    out["top_overlap"] = {}
    for rho in rhos:
        k = max(1, int(round(rho * n)))
        out["top_overlap"][f"{rho:g}"] = {"k": k, "overlap": top_overlap(columns_a["score"], columns_b["score"], rho),
                                          "chance": k / n}
    return out
