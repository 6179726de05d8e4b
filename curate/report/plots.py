"""The report's figures: matplotlib (Agg) drawn into PNG bytes and embedded as data: URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from curate.report.html import esc

__all__ = ["image", "image_file", "weight_histogram", "potentials_scatter", "curves", "rate_bars"]

HARMFUL, BENIGN, KEPT, DROPPED = "#c62828", "#1f5fbf", "#2e7d32", "#c62828"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image(fig, alt: str) -> str:
    """An <img> holding `fig` as a PNG (the figure is closed)."""
    plt = _pyplot()
    sink = io.BytesIO()
    fig.tight_layout()
    fig.savefig(sink, format="png", dpi=100)
    plt.close(fig)
    return _img(sink.getvalue(), alt)


def image_file(path: Path, alt: str) -> str:
    """An <img> of a PNG already on disk (e.g. dictionary.png); empty when there is none."""
    path = Path(path)
    return _img(path.read_bytes(), alt) if path.is_file() and path.stat().st_size else ""


def _img(data: bytes, alt: str) -> str:
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def weight_histogram(weights: np.ndarray, harmful: np.ndarray | None = None) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bins = np.linspace(float(weights.min()), float(weights.max()) + 1e-9, 50)
    if harmful is None:
        ax.hist(weights, bins=bins, color=BENIGN)
    else:
        ax.hist([weights[~harmful], weights[harmful]], bins=bins, stacked=True, color=[BENIGN, HARMFUL],
                label=[f"is_harmful = false ({int((~harmful).sum())})", f"is_harmful = true ({int(harmful.sum())})"])
        ax.legend(fontsize=8)
    ax.set(xlabel="sot_weight", ylabel="rows (log scale)", title="Weight histogram", yscale="log")
    return image(fig, "histogram of sot_weight")


def potentials_scatter(pull: np.ndarray, push: np.ndarray, keep: np.ndarray | None,
                       harmful: np.ndarray | None = None) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    keep = np.ones(len(pull), dtype=bool) if keep is None else keep
    ax.scatter(pull[keep], push[keep], s=5, c=KEPT, alpha=0.35, label=f"kept ({int(keep.sum())})", linewidths=0)
    ax.scatter(pull[~keep], push[~keep], s=5, c=DROPPED, alpha=0.6, label=f"dropped ({int((~keep).sum())})",
               linewidths=0)
    if harmful is not None and harmful.any():
        ax.scatter(pull[harmful], push[harmful], s=18, facecolors="none", edgecolors="black", linewidths=0.6,
                   label=f"is_harmful ({int(harmful.sum())})")
    ax.set(xlabel="pull potential (far from the safe anchors →)", ylabel="push potential (far from harmful →)",
           title="Potentials")
    ax.legend(fontsize=8, markerscale=2)
    return image(fig, "pull potential against push potential, coloured by keep")


def curves(series: dict[str, Sequence[float]], *, title: str, xlabel: str = "step", ylabel: str = "",
           x: Sequence[float] | None = None, log: bool = False, smooth: int = 0) -> str:
    """Line plot of one or more series over a shared x; `smooth` > 1 adds each series' running mean."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        xs = np.arange(1, len(values) + 1) if x is None else np.asarray(x, dtype=float)
        ax.plot(xs, values, lw=1.2, alpha=0.55 if smooth > 1 else 1.0, label=name, marker="o" if len(xs) < 12 else None)
        if smooth > 1 and len(values) > smooth:
            window = np.ones(smooth) / smooth
            ax.plot(xs[smooth - 1:], np.convolve(values, window, mode="valid"), lw=2,
                    label=f"{name} (mean of {smooth})")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, yscale="log" if log else "linear")
    if len(series) > 1 or smooth > 1:
        ax.legend(fontsize=8)
    return image(fig, title)


def rate_bars(bars: list[tuple[str, float, float, float]], title: str) -> str:
    """Horizontal bars (label, rate, low, high) with their intervals, rates in [0, 1]."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, max(2.2, 0.42 * len(bars) + 1.0)))
    labels = [b[0] for b in bars][::-1]
    rates = np.array([b[1] for b in bars][::-1])
    low = np.array([b[2] for b in bars][::-1])
    high = np.array([b[3] for b in bars][::-1])
    errors = np.vstack([np.clip(rates - low, 0, None), np.clip(high - rates, 0, None)])
    ax.barh(range(len(bars)), rates, xerr=np.nan_to_num(errors), color="#4a78c2", ecolor="#333", capsize=3)
    for y, value in enumerate(rates):
        ax.text(min(value + 0.02, 0.9), y, f"{100 * value:.1f}%", va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), labels, fontsize=8)
    ax.set(xlim=(0, 1), xlabel="rate (Wilson 95% interval)", title=title)
    return image(fig, title)
