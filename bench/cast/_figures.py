"""The bench's picture of the head map: draw a's scores with the skipped heads marked, and draw a against b."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from bench.cast._stability import top_set

__all__ = ["write_head_map_figure", "head_map_path"]


def _grid(columns: dict, name: str) -> np.ndarray:
    layers, heads = int(columns["layer"].max()) + 1, int(columns["head"].max()) + 1
    out = np.full((layers, heads), np.nan)
    out[columns["layer"], columns["head"]] = columns[name]
    return out


def _score_panel(ax, fig, columns: dict, rho: float, model: str) -> None:
    image = ax.imshow(_grid(columns, "score"), aspect="auto", cmap="magma", interpolation="nearest")
    picked = sorted(top_set(columns["score"], rho))
    ax.scatter(columns["head"][picked], columns["layer"][picked], marker="s", facecolors="none",
               edgecolors="cyan", s=40, linewidths=1.2, label=f"skipped by CAST at rho={rho:g}")
    ax.set(xlabel="head", ylabel="layer", title=f"CAST score per head (draw a)\n{model}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7, frameon=False)
    fig.colorbar(image, ax=ax, fraction=0.08).set_label("rank(conflict) x rank(sensitivity)", fontsize=8)


def _stability_panel(ax, columns_a: dict, columns_b: dict, stability: dict) -> None:
    from scipy.stats import rankdata

    ra, rb = rankdata(columns_a["score"]), rankdata(columns_b["score"])
    ax.scatter(ra, rb, s=6, alpha=0.6)
    ax.set(xlabel="score rank, draw a", ylabel="score rank, draw b",
           title=f"map stability: Spearman {stability['spearman']['score']:+.2f}")
    overlaps = "\n".join(f"rho {rho}: {v['overlap']:.2f} (chance {v['chance']:.2f})"
                         for rho, v in stability["top_overlap"].items())
    ax.text(0.02, 0.98, f"top-rho overlap a/b\n{overlaps}", transform=ax.transAxes, va="top", fontsize=7,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})


def head_map_path(folder: Path, rho: float) -> Path:
    """One picture per skip fraction, named like the arms (cast-rho0.05 -> head_map_rho0.05.png), so a run at
    another ratio does not redraw the picture of the last."""
    return Path(folder) / f"head_map_rho{rho:g}.png"


def write_head_map_figure(path: Path, columns_a: dict, columns_b: dict, stability: dict, rho: float,
                          model: str) -> Path:
    """PNG at `path`: draw a's score grid with CAST's skipped heads boxed, and the a-vs-b rank scatter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from curate.io import atomic_write_bytes

    layers = int(columns_a["layer"].max()) + 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 2.5 + 0.16 * layers),
                                      gridspec_kw={"width_ratios": [1.3, 1]})
    _score_panel(left, fig, columns_a, rho, model)
    _stability_panel(right, columns_a, columns_b, stability)
    fig.tight_layout()
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=110)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, sink.getvalue())
    return path
