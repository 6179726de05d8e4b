"""SFT rows and per-example weights from a table: weight column, Top-K subset, or multinomial resample."""

from __future__ import annotations

import numpy as np

from curate.errors import InputError

__all__ = ["rows_and_weights"]


def _column_weights(table, column: str, spec: str) -> np.ndarray:
    if column not in table.column_names:
        raise InputError(
            f"--weight-column {column}: no such column in '{spec}' (columns: {', '.join(table.column_names)}); "
            "run `curate sot-weight` first or name the column that holds the weights"
        )
    weights = table.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
    if not np.all(np.isfinite(weights)):
        raise InputError(f"--weight-column {column}: {int((~np.isfinite(weights)).sum())} weights are NaN or infinite")
    if (weights < 0).any():
        raise InputError(
            f"--weight-column {column}: {int((weights < 0).sum())} weights are negative (min {weights.min():.4g}); "
            "weights must be >= 0"
        )
    if weights.sum() <= 0:
        raise InputError(f"--weight-column {column}: all weights are zero, nothing to train on")
    return weights


def _topk_mask(table, weights: np.ndarray, top_fraction: float | None, spec: str) -> np.ndarray:
    if top_fraction is None:
        if "keep" not in table.column_names:
            raise InputError(f"--mode topk: '{spec}' has no 'keep' column; pass --top-fraction F to keep the top F "
                             "by weight")
        return np.asarray(table.column("keep").to_numpy(zero_copy_only=False), dtype=bool)
    k = max(1, int(round(top_fraction * len(weights))))
    mask = np.zeros(len(weights), dtype=bool)
    mask[np.argsort(-weights, kind="stable")[:k]] = True
    return mask


def rows_and_weights(table, config, spec: str) -> tuple[list[dict], np.ndarray]:
    """(rows, weights) to train on. Zero-weight rows are dropped: they could not change the model anyway."""
    fields = [config.prompt_field, config.response_field]
    rows = table.select(fields).to_pylist()
    if config.mode == "weights" and config.weight_column is None:
        return rows, np.ones(len(rows))
    weights = _column_weights(table, config.weight_column or "sot_weight", spec)
    if config.mode == "topk":
        mask = _topk_mask(table, weights, config.top_fraction, spec)
        return [r for r, m in zip(rows, mask) if m], np.ones(int(mask.sum()))
    if config.mode == "resample":
        picks = np.random.default_rng(config.seed).choice(len(rows), size=len(rows), p=weights / weights.sum())
        return [rows[i] for i in picks], np.ones(len(picks))
    keep = weights > 0
    return [r for r, m in zip(rows, keep) if m], weights[keep]
