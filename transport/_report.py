"""Outputs of `curate sot-weight`: the weighted Parquet, the JSON summary and the PNG, each written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from curate.io import atomic_write_bytes
from curate.io import write_parquet as _write_table

__all__ = ["keep_mask", "quality", "write_parquet", "write_png"]


def keep_mask(weights: np.ndarray, keep_fraction: float | None, top_k: int | None) -> np.ndarray:
    """Top-K by weight (ties broken by row order): K = top_k, else round(keep_fraction·n) with 0.9 by default."""
    n = len(weights)
    k = top_k if top_k is not None else int(round((0.9 if keep_fraction is None else keep_fraction) * n))
    order = np.argsort(-weights, kind="stable")
    keep = np.zeros(n, dtype=bool)
    keep[order[: min(k, n)]] = True
    return keep


def quality(weights: np.ndarray, is_harmful: np.ndarray) -> dict:
    """AUROC of −weight against the harmful label, and precision among the lowest-weighted rate·n rows."""
    from sklearn.metrics import roc_auc_score

    labels = is_harmful.astype(bool)
    if labels.all() or not labels.any():
        return {}
    k = int(labels.sum())
    lowest = np.argsort(weights, kind="stable")[:k]
    return {"auroc": float(roc_auc_score(labels, -weights)), "precision_at_rate": float(labels[lowest].mean()),
            "harmful_rows": k}


def write_parquet(table, columns: dict[str, np.ndarray], path: Path) -> None:
    """The input table with `columns` appended (replacing same-named ones), written atomically to `path`."""
    import pyarrow as pa

    for name, values in columns.items():
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, pa.array(values))
    _write_table(table, path)


def write_png(weights: np.ndarray, pull: np.ndarray, push: np.ndarray, keep: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.hist(weights, bins=60, color="tab:blue")
    left.set(xlabel="sot_weight", ylabel="rows", title="weight histogram", yscale="log")
    right.scatter(pull[~keep], push[~keep], s=4, c="tab:red", label="dropped", alpha=0.6)
    right.scatter(pull[keep], push[keep], s=4, c="tab:green", label="kept", alpha=0.4)
    right.set(xlabel="pull potential (far from safe →)", ylabel="push potential (far from harmful →)",
              title="potentials")
    right.legend(markerscale=3)
    fig.tight_layout()
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, sink.getvalue())
