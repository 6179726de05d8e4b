"""The conflict map on disk (conflict_map.parquet + manifest.json + heat maps) and head selection from it."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.errors import ConfigError, InputError
from curate.io import atomic_write_bytes, atomic_write_text, read_table, write_parquet

__all__ = ["ConflictMap", "write_conflict_map", "load_conflict_map", "write_heatmap", "heatmap_figure",
           "colorbar_label", "select_heads", "MAP_FILE", "MANIFEST_FILE", "HEATMAPS"]

MAP_FILE = "conflict_map.parquet"
MANIFEST_FILE = "manifest.json"
HEATMAPS = {"conflict": "conflict.png", "sensitivity": "sensitivity.png", "score": "score.png"}


@dataclass(frozen=True)
class ConflictMap:
    """Per-head columns (layer-major rows) and the manifest they were written with."""

    columns: dict[str, np.ndarray]
    manifest: dict

    @property
    def heads(self) -> list[tuple[int, int]]:
        return list(zip(self.columns["layer"].tolist(), self.columns["head"].tolist()))

    def grid(self, name: str) -> np.ndarray:
        """Column `name` as a [layers, heads] array."""
        n_layers, n_heads = int(self.columns["layer"].max()) + 1, int(self.columns["head"].max()) + 1
        out = np.full((n_layers, n_heads), np.nan)
        out[self.columns["layer"], self.columns["head"]] = self.columns[name]
        return out


def write_conflict_map(folder: Path, columns: dict[str, np.ndarray], manifest: dict) -> list[Path]:
    """Write the Parquet table, the three heat maps and (last, as the done-marker) manifest.json."""
    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(pa.table({k: pa.array(v) for k, v in columns.items()}), folder / MAP_FILE)
    cmap = ConflictMap({k: np.asarray(v) for k, v in columns.items()}, manifest)
    files = [folder / MAP_FILE]
    for name, file in HEATMAPS.items():
        write_heatmap(cmap.grid(name), name, manifest.get("model", ""), folder / file,
                      label=colorbar_label(name, manifest))
        files.append(folder / file)
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    return files + [folder / MANIFEST_FILE]


_SENSITIVITY_LABELS = {
    "ablation": "utility-loss rise when the head's output is zeroed (nats/token)",
    "taylor": "first-order utility sensitivity |θ_h · ∇L_util|",
}


def colorbar_label(name: str, manifest: dict) -> str:
    """What the colours of one heat map measure, in the units the diagnosis used."""
    if name == "conflict":
        return "conflict O(h) = 1 − cos(g_safe, g_util)\n(0 aligned, 1 orthogonal, 2 opposed)"
    if name == "sensitivity":
        return _SENSITIVITY_LABELS.get(manifest.get("sensitivity"), "utility sensitivity")
    how = "×" if manifest.get("combine", "product") == "product" else "mean of"
    formula = "rank(O) × rank(S)" if how == "×" else "mean of rank(O) and rank(S)"
    return f"score = {formula}\n(highest = skipped first by --select conflict)"


def heatmap_figure(grid: np.ndarray, name: str, model: str, label: str | None = None):
    """A layers × heads picture of one quantity (layer 0 at the top); `label` names the colour bar's quantity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_layers, n_heads = grid.shape
    fig, ax = plt.subplots(figsize=(3.2 + 0.45 * n_heads, 1.6 + 0.22 * n_layers))
    image = ax.imshow(grid, aspect="auto", cmap="magma" if name == "score" else "viridis", interpolation="nearest")
    ax.set(xlabel="head", ylabel="layer", title=f"{name} per attention head\n{model}")
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(0, n_layers, max(1, n_layers // 15)))
    bar = fig.colorbar(image, ax=ax, fraction=0.08)
    bar.set_label(label or name, fontsize=8)
    fig.tight_layout()
    return fig


def write_heatmap(grid: np.ndarray, name: str, model: str, path: Path, label: str | None = None) -> None:
    """`heatmap_figure` as a PNG at `path`."""
    import matplotlib.pyplot as plt

    fig = heatmap_figure(grid, name, model, label)
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, sink.getvalue())


def load_conflict_map(folder: str | Path) -> ConflictMap:
    """Read a `curate diagnose-heads` output folder; errors name the missing file and the fix."""
    folder = Path(folder)
    for file in (MAP_FILE, MANIFEST_FILE):
        if not (folder / file).exists():
            raise InputError(f"--conflict-map {folder}: no {file} there; run `curate diagnose-heads --out {folder}` "
                             "first (an unfinished diagnosis has no manifest.json)")
    table = read_table(folder / MAP_FILE, what="the conflict map written by `curate diagnose-heads`")
    missing = {"layer", "head", "conflict", "sensitivity", "score", "rank"} - set(table.column_names)
    if missing:
        raise InputError(f"--conflict-map {folder}: {MAP_FILE} lacks columns {sorted(missing)}; "
                         "it was not written by `curate diagnose-heads`")
    columns = {c: table.column(c).to_numpy() for c in table.column_names}
    return ConflictMap(columns, json.loads((folder / MANIFEST_FILE).read_text()))


def select_heads(cmap: ConflictMap, fraction: float, how: str, seed: int = 0) -> list[tuple[int, int]]:
    """The heads to skip: top (conflict), bottom (low-conflict) or random k = round(fraction · heads) by score."""
    heads = cmap.heads
    if how == "none":
        return []
    if not 0 < fraction < 1:
        raise ConfigError(f"--skip-fraction {fraction}: must be in (0, 1) (e.g. 0.1 skips a tenth of the heads)")
    k = max(1, int(round(fraction * len(heads))))
    # ties broken by (layer, head) so a selection is reproducible
    order = np.lexsort((cmap.columns["head"], cmap.columns["layer"], -cmap.columns["score"]))
    if how == "conflict":
        picked = order[:k]
    elif how == "low-conflict":
        picked = order[::-1][:k]
    elif how == "random":
        picked = np.random.default_rng(seed).choice(len(heads), size=k, replace=False)
    else:
        raise ConfigError(f"--select {how}: use conflict, random, low-conflict or none")
    return sorted(heads[i] for i in picked)
