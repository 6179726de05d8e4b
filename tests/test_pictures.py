"""Pictures a person can read (issue 14 item 12): the eval chart, the SAE training curve, the CAST heat maps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from curate.evaluation.metrics import set_summary  # noqa: E402
from curate.evaluation.report import chart_figure, write_chart  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def summary() -> dict:
    harmful = {"refused": [True] * 7 + [False] * 3 + [False] * 5, "category": ["weapons"] * 10 + ["drugs"] * 5}
    benign = {"refused": [False] * 6 + [True] * 2 + [False] * 4, "category": ["cooking"] * 6 + ["chemistry"] * 6}
    return {"model": "tiny", "harmful": set_summary(harmful), "benign": set_summary(benign)}


def _bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]


def test_eval_chart_shows_counts_zero_bars_and_two_colours(summary, tmp_path):
    fig = chart_figure(summary)
    try:
        harmful_ax, benign_ax = fig.axes
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        for counts in ("7/10", "0/5", "7/15", "0/6", "2/6", "2/12"):  # every category and each set's "all"
            assert any(counts in t for t in texts), (counts, texts)
        assert any(t.startswith("0%") for t in texts)
        # the 0/5 drugs bar is still drawn: an outlined stub above zero height at its x position
        drugs = [label.get_text() for label in harmful_ax.get_xticklabels()].index("drugs")
        assert any(abs(p.get_x() + p.get_width() / 2 - drugs) < 1e-9 for p in _bars(harmful_ax))
        filled = {ax: {to_rgba(p.get_facecolor())[:3] for p in _bars(ax) if p.get_facecolor()[3] > 0}
                  for ax in (harmful_ax, benign_ax)}
        assert filled[harmful_ax] and filled[benign_ax] and not filled[harmful_ax] & filled[benign_ax]
        assert harmful_ax.containers and any(c.has_yerr for c in harmful_ax.containers if hasattr(c, "has_yerr"))
        assert "higher is better" in harmful_ax.get_title() and "lower is better" in benign_ax.get_title()
    finally:
        plt.close(fig)
    assert write_chart(summary, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes().startswith(PNG)
    assert not write_chart({"model": "m"}, tmp_path / "none.png") and not (tmp_path / "none.png").exists()


def test_sae_curve_separates_loss_and_fvu_and_shows_held_out(tmp_path):
    from train.sae.metrics import plot_training_curve, training_curve_figure

    history = [{"step": s, "loss": 1.0 / s + 0.02, "fvu": 1.0 / s, "l0": 4.0, "dead_pct": 10.0 / s}
               for s in range(1, 201)]
    fig = training_curve_figure(history, "t", held_out={"fvu": 0.031, "tokens": 500})
    try:
        by_title = {ax.get_title(): ax for ax in fig.axes}
        loss_ax = next(ax for title, ax in by_title.items() if title.startswith("loss"))
        fvu_ax = next(ax for title, ax in by_title.items() if title.startswith("fraction of variance"))
        assert loss_ax is not fvu_ax and len(fig.axes) == 4
        assert all("FVU" not in line.get_label() for line in loss_ax.get_lines())
        labels = [line.get_label() for line in fvu_ax.get_lines()]
        assert any(label.startswith("held-out FVU 0.0310") for label in labels), labels
        assert fvu_ax.get_yscale() == "log"  # 1.0 down to 0.005 spans two decades
    finally:
        plt.close(fig)
    plot_training_curve(history, tmp_path / "curve.png", held_out=None)
    assert (tmp_path / "curve.png").read_bytes().startswith(PNG)


def test_conflict_heat_maps_label_their_colour_bars(tmp_path):
    from train.cast.conflict_map import HEATMAPS, colorbar_label, heatmap_figure, write_conflict_map

    layers, heads = 3, 4
    rng = np.random.default_rng(0)
    columns = {"layer": np.repeat(np.arange(layers), heads), "head": np.tile(np.arange(heads), layers),
               "conflict": rng.uniform(0, 2, 12), "sensitivity": rng.random(12), "score": rng.random(12),
               "rank": np.arange(12)}
    manifest = {"model": "tiny", "sensitivity": "ablation", "combine": "product"}
    write_conflict_map(tmp_path, columns, manifest)
    for file in HEATMAPS.values():
        assert (tmp_path / file).read_bytes().startswith(PNG)
    assert "1 − cos(g_safe, g_util)" in colorbar_label("conflict", manifest)
    assert "zeroed" in colorbar_label("sensitivity", manifest)
    assert "∇L_util" in colorbar_label("sensitivity", {"sensitivity": "taylor"})
    assert "rank(O) × rank(S)" in colorbar_label("score", manifest)
    fig = heatmap_figure(np.zeros((layers, heads)), "conflict", "tiny", colorbar_label("conflict", manifest))
    try:
        colour_bar_ax = fig.axes[1]
        assert "1 − cos" in colour_bar_ax.get_ylabel()
    finally:
        plt.close(fig)
