"""The dictionary picture: a 2-D PCA projection of the concept directions, coloured by label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_dictionary"]

COLOURS = {"neutral": "#b0b0b0", "desirable": "#2b8cbe", "undesirable": "#d7301f"}


def plot_dictionary(directions: np.ndarray, labels: list[str], names: list[str], path: Path, title: str,
                    annotate: int = 12) -> Path:
    """Scatter of the first two principal components of directions [K, d]; the first `annotate` undesirable
    concepts (in rank order) are named. Written via a temporary file and renamed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centred = directions - directions.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred[: min(len(centred), 20_000)], full_matrices=False)
    xy = centred @ vt[:2].T if len(vt) >= 2 else np.c_[centred @ vt[:1].T, np.zeros(len(centred))]
    labels_arr = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=120)
    for label in ("neutral", "desirable", "undesirable"):
        pick = labels_arr == label
        ax.scatter(xy[pick, 0], xy[pick, 1], s=6 if label == "neutral" else 12, c=COLOURS[label],
                   label=f"{label} ({int(pick.sum())})", alpha=0.6 if label == "neutral" else 0.9, linewidths=0)
    for k in np.flatnonzero(labels_arr == "undesirable")[:annotate]:
        ax.annotate(names[k], xy[k], fontsize=7, color=COLOURS["undesirable"])
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path
