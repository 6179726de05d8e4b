"""Per-row loss weights of every arm, computed by bench.sot.family at the settings it chose on validation.

- uniform: 1 for every row;
- sot, heuristic, classifier: `family.weigh("test", rate, method, setting, temperature)` with the setting (and for
  the heuristic and the classifier the temperature) that bench/results/sot_family.json records for that rate;
- oracle: 0 on harmful rows, 1 elsewhere. A zero weight keeps its row in the batch schedule (the arms see the same
  batches); the row adds nothing to the loss.
Weights are computed on the whole `sot-test-{rate}` corpus, then taken for the training rows and scaled to mean 1
over them, so every arm's loss has the same total weight per epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["FAMILY_METHODS", "WEIGHTED_METHODS", "family_choice", "normalised", "oracle_weights", "method_weights",
           "weight_summary"]

FAMILY_METHODS = ("sot", "heuristic", "classifier")
"""Methods whose weights come from bench.sot.family at its validation choice."""
WEIGHTED_METHODS = ("uniform", *FAMILY_METHODS, "oracle")


def family_choice(results: Path, rate: int, method: str) -> dict:
    """{setting, temperature, family} that sot_family.json chose for `method` at `rate` ({} settings for uniform and
    oracle); a clear error when the file or the row is missing."""
    from curate.errors import ConfigError

    if method not in FAMILY_METHODS:
        return {"setting": {}, "temperature": None}
    if not results.exists():
        raise ConfigError(f"--family-results {results}: missing; run `python -m bench.sot.family` first (it chooses "
                          "each method's setting on validation)")
    from curate.datasets.sot_family import data_key

    payload = json.loads(results.read_text())
    if payload.get("family") != data_key():
        raise ConfigError(f"--family-results {results}: chosen on the family build {payload.get('family')}, but the "
                          f"registry now builds it from {data_key()}; rerun `python -m bench.sot.family`")
    rows = [r for r in payload["rows"] if r["rate"] == rate and r["method"] == method]
    if not rows:
        raise ConfigError(f"--family-results {results}: no row for {method} at {rate}%; rerun bench.sot.family with "
                          f"--rates {rate} --methods {method}")
    return {"setting": rows[0]["setting"], "temperature": rows[0]["temperature"], "family": payload["family"]}


def normalised(weights: np.ndarray) -> np.ndarray:
    """`weights` scaled to mean 1 (zeros stay zero)."""
    weights = np.asarray(weights, dtype=np.float64)
    if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
        raise ValueError("weights must be finite, >= 0 and not all zero")
    return weights / weights.mean()


def oracle_weights(is_harmful: np.ndarray) -> np.ndarray:
    return (~np.asarray(is_harmful, dtype=bool)).astype(np.float64)


def _family_weights(rate: int, method: str, choice: dict, work: Path) -> dict[str, float]:
    """{row id: weight} of one family method on the whole sot-test-{rate} corpus (cached in `work`)."""
    from bench.common import write_json

    cache = work / f"weights-{rate}-{method}.json"
    if cache.exists():
        held = json.loads(cache.read_text())
        if held["choice"] == choice:
            return dict(zip(held["ids"], held["weights"], strict=True))
    from bench.sot import family

    setting = choice["setting"]
    weights, _ = family.weigh("test", rate, method, setting, work, choice["temperature"])
    # weigh() returns the rows of the table family._features loaded (cached there): its ids give the order
    ids = family._features(f"sot-test-{rate}", setting.get("features", "minilm-pair"), work)[1].column("id")
    ids = ids.to_pylist()
    write_json(cache, {"choice": choice, "ids": ids, "weights": np.asarray(weights, dtype=float).tolist()})
    return dict(zip(ids, np.asarray(weights, dtype=float).tolist(), strict=True))


def method_weights(method: str, rate: int, train, choice: dict, work: Path) -> np.ndarray:
    """[rows of `train`] weights of `method`, mean 1, in the table's row order."""
    harmful = np.asarray(train.column("is_harmful").to_pylist(), dtype=bool)
    if method == "uniform":
        return np.ones(train.num_rows)
    if method == "oracle":
        return normalised(oracle_weights(harmful))
    by_id = _family_weights(rate, method, choice, work)
    return normalised(np.array([by_id[i] for i in train.column("id").to_pylist()], dtype=np.float64))


def weight_summary(weights: np.ndarray, is_harmful: np.ndarray) -> dict:
    """AUROC, precision at the rate, harmful mass and ESS / n of the training weights (family.weight_quality)."""
    from bench.sot.family import weight_quality

    quality = weight_quality(np.asarray(weights, dtype=np.float64), np.asarray(is_harmful, dtype=bool))
    return {k: float(v) for k, v in quality.items()} | {"zero_weight_rows": int((np.asarray(weights) == 0).sum())}
