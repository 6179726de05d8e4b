"""Report sections of a trainer folder (`curate train sft|cast|mosaic|sae --out`) and an embedding folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.io import read_json
from curate.report.html import Section, details, grid, key_values, note, table
from curate.report.plots import curves

__all__ = ["trainer_section", "embeddings_section", "learning_rates"]

CONFIG_FILES = {"sft_config.json": "SFT", "cast_config.json": "CAST", "mosaic_config.json": "MOSAIC",
                "sae_config.json": "SAE"}
SERIES_KEYS = ("loss_trace", "history")


def learning_rates(steps: int, lr: float, warmup_steps: int) -> np.ndarray:
    """The SFT/CAST schedule (train._common.lr_at): linear warm-up to lr, then constant."""
    step = np.arange(steps, dtype=float)
    return lr * np.minimum(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else np.full(steps, lr)


def _settings(folder: Path) -> tuple[str, dict]:
    for name, method in CONFIG_FILES.items():
        if (folder / name).is_file():
            return method, read_json(folder / name, what=f"the {name} of a `curate train` output")
    return "trainer", {}


def _scalars(metrics: dict) -> dict:
    """Metrics worth a line each: numbers and short strings, one level of nested dicts flattened."""
    out = {}
    for key, value in metrics.items():
        if key in SERIES_KEYS:
            continue
        if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            out[key] = value if len(value) <= 12 else f"{len(value)} values"
        else:
            out[key] = value
    return out


def _history_plots(history: list[dict]) -> list[str]:
    """One curve per numeric field of the SAE history (loss, fvu, l0, dead_pct, ...) against its step."""
    steps = [h.get("step", i + 1) for i, h in enumerate(history)]
    names = [k for k, v in history[0].items() if k != "step" and isinstance(v, (int, float))]
    return [curves({name: [h.get(name, np.nan) for h in history]}, title=name, x=steps) for name in names[:6]]


def _curves(metrics: dict, settings: dict) -> list[str]:
    plots = []
    trace = metrics.get("loss_trace")
    if isinstance(trace, list) and trace:
        plots.append(curves({"loss": trace}, title="Training loss per optimiser step", ylabel="weighted NLL",
                            smooth=10 if len(trace) >= 30 else 0))
        if "lr" in settings:
            schedule = learning_rates(len(trace), float(settings["lr"]), int(settings.get("warmup_steps") or 0))
            plots.append(curves({"learning rate": schedule}, title="Learning rate", ylabel="lr"))
    history = metrics.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict):
        plots += _history_plots(history)
    return plots


def _files(folder: Path, section_id: str) -> str:
    rows = [[p.relative_to(folder).as_posix(), p.stat().st_size] for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")]
    return table(["file", "bytes"], rows[:200], table_id=f"{section_id}-files", total=len(rows))


def trainer_section(folder: Path, max_rows: int, section_id: str = "trainer") -> Section:
    """Loss and learning-rate curves, the metrics, the resolved settings and the files written."""
    folder = Path(folder)
    metrics = read_json(folder / "metrics.json", what="the metrics.json of a `curate train` output")
    method, settings = _settings(folder)
    plots = _curves(metrics, settings)
    by_order = metrics.get("loss_first_last_by_order")
    parts = [grid(*plots) if plots else note("metrics.json holds no loss trace or history.")]
    if isinstance(by_order, dict):
        rows = [[order, *values] for order, values in sorted(by_order.items())]
        parts.append(table(["active categories", "first loss", "last loss"], rows, table_id=f"{section_id}-orders",
                           caption="MOSAIC loss at the start and end of training, per number of active categories"))
    parts += [grid("<h3>Metrics</h3>" + key_values(_scalars(metrics)), "<h3>Settings</h3>" + key_values(settings)),
              details("Files in the folder", _files(folder, section_id))]
    return Section("trainer", f"{method} training: {folder.name}", "".join(parts), str(folder))


def embeddings_section(folder: Path, max_rows: int, section_id: str = "embeddings") -> Section:
    """The manifest of an embedding folder and its shards with their read / encode / write seconds."""
    folder = Path(folder)
    manifest = read_json(folder / "manifest.json", what="the manifest.json of `curate embed --out`")
    keys = ("model", "encoder", "pooling", "layer", "dim", "dtype", "normalized", "rows", "records", "skipped")
    shards = manifest.get("shards") or []
    timing_keys = sorted({k for s in shards for k in (s.get("timings") or {})})
    rows = [[s.get("name"), s.get("rows"), s.get("complete"), *((s.get("timings") or {}).get(k) for k in timing_keys)]
            for s in shards[:max_rows]]
    shard_table = table(["shard", "rows", "complete", *(f"{k} (s)" for k in timing_keys)], rows,
                        table_id=f"{section_id}-shards", total=len(shards))
    body = grid(key_values({k: manifest[k] for k in keys if k in manifest}), shard_table)
    return Section("embeddings", f"Embeddings: {folder.name}", body, str(folder))
