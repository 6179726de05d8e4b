"""Report section of a weighted corpus (`curate sot-weight` OUT.parquet + OUT.json, or a `curate export` file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.io import read_json
from curate.report.detect import export_meta, read_rows
from curate.report.html import Section, Value, details, esc, grid, key_values, note, table
from curate.report.plots import curves, potentials_scatter, weight_histogram

__all__ = ["corpus_section", "export_section", "weight_quality"]

LABEL = "is_harmful"
GROUP_COLUMNS = ("category", "source", "kind", "split")
ROW_COLUMNS = ("id", "sot_weight", "keep", LABEL, "category", "source", "kind")
TEXT_COLUMNS = ("prompt", "response", "completion", "text", "messages")
SETTINGS = ("method", "features", "eps", "beta", "tau", "step_rule", "solver", "keep_fraction", "top_k",
            "converged", "outer_iterations", "final_eta", "data", "safe", "harmful")
EXTREMES = 50


def weight_quality(weights: np.ndarray, harmful: np.ndarray) -> dict:
    """AUROC of −weight against the harmful label and precision among the lowest-weighted rate·n rows
    (the figures `curate sot-weight` prints); {} when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if harmful.all() or not harmful.any():
        return {}
    k = int(harmful.sum())
    lowest = np.argsort(weights, kind="stable")[:k]
    return {"AUROC (−weight vs is_harmful)": float(roc_auc_score(harmful, -weights)),
            "precision at the harmful rate": float(harmful[lowest].mean()), "harmful rows": k}


def _bool_column(table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    return np.asarray([bool(v) for v in table.column(name).to_pylist()], dtype=bool)


def _float_column(table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    return np.asarray(table.column(name).to_pylist(), dtype=np.float64)


def _sidecar(path: Path) -> dict:
    """OUT.json of `curate sot-weight` (settings, summary, objective trace), if it sits beside the Parquet."""
    side = Path(path).with_suffix(".json")
    if Path(path).is_file() and side != Path(path) and side.is_file():
        data = read_json(side, what="the OUT.json written by `curate sot-weight`")
        return data if isinstance(data, dict) else {}
    return {}


def _headline(weights, keep, harmful) -> str:
    figures = {"rows": f"{len(weights):,}", "mean weight": f"{weights.mean():.3f}",
               "down-weighted (< 0.5)": f"{int((weights < 0.5).sum()):,}",
               "weight range": f"{weights.min():.3g} – {weights.max():.3g}"}
    if keep is not None:
        figures["kept (Top-K)"] = f"{int(keep.sum()):,}"
    if harmful is not None:
        for name, value in weight_quality(weights, harmful).items():
            figures[name] = f"{value:.4f}" if isinstance(value, float) else f"{value:,}"
    return '<div class="figure-row">' + "".join(
        f'<div class="figure"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in figures.items()) + "</div>"


def _text(row: dict) -> dict:
    """The row's text columns for display; a `messages` list becomes 'role: content' lines."""
    shown = {}
    for name in TEXT_COLUMNS:
        if name in row:
            value = row[name]
            if name == "messages" and isinstance(value, list):
                value = "\n".join(f"{m.get('role')}: {m.get('content')}" for m in value if isinstance(m, dict))
            shown[name] = value
    return shown


def _row_columns(table) -> list[str]:
    return [c for c in ROW_COLUMNS if c in table.column_names] + [c for c in TEXT_COLUMNS if c in table.column_names]


def _rows(table, indices, columns: list[str]) -> list[list]:
    picked = table.take(np.asarray(indices, dtype=np.int64)).select(columns).to_pylist()
    return [[{**r, **_text(r)}[c] for c in columns] for r in picked]


def _share(value: float) -> Value:
    return Value(f"{100 * value:.1f}%", float(value))


def _group_table(column: str, values: list, weights, keep, harmful, section_id: str) -> str:
    groups = np.asarray(["(none)" if v is None else str(v) for v in values], dtype=object)
    names = sorted(set(groups), key=lambda g: float(weights[groups == g].mean()))
    header = [column, "rows", "mean weight", "median weight", "down-weighted share"]
    header += ["kept share"] if keep is not None else []
    header += ["harmful share"] if harmful is not None else []
    rows = []
    for name in names[:60]:
        sel = groups == name
        row = [name, int(sel.sum()), float(weights[sel].mean()), float(np.median(weights[sel])),
               _share((weights[sel] < 0.5).mean())]
        row += [_share(keep[sel].mean())] if keep is not None else []
        row += [_share(harmful[sel].mean())] if harmful is not None else []
        rows.append(row)
    caption = f"Weight by {column} (lowest mean weight first)"
    return table(header, rows, table_id=f"{section_id}-by-{column}", caption=caption, total=len(names))


def _figures(weights, keep, harmful, pull, push, sidecar: dict) -> list[str]:
    plots = [weight_histogram(weights, harmful)]
    if pull is not None and push is not None:
        plots.append(potentials_scatter(pull, push, keep, harmful))
    objective = sidecar.get("objective")
    if isinstance(objective, list) and len(objective) > 1:
        plots.append(curves({"J(w)": objective}, title="Objective per accepted mirror-descent step",
                            xlabel="outer step", ylabel="objective"))
    return plots


def corpus_section(path: Path, max_rows: int, section_id: str = "corpus") -> Section:
    """Headline figures, plots, weight by group, the lowest and highest rows, and a searchable row table."""
    data = read_rows(path)
    weights = _float_column(data, "sot_weight")
    keep, harmful = _bool_column(data, "keep"), _bool_column(data, LABEL)
    pull, push = _float_column(data, "pull_potential"), _float_column(data, "push_potential")
    sidecar = _sidecar(path)
    settings = {k: sidecar[k] for k in SETTINGS if k in sidecar}
    settings_block = ("<h3>Settings</h3>" + key_values(settings) + details(
        "Everything in " + Path(path).with_suffix(".json").name,
        key_values({k: v for k, v in sidecar.items() if k not in SETTINGS}))) if settings else ""
    parts = [_headline(weights, keep, harmful), grid(*_figures(weights, keep, harmful, pull, push, sidecar),
                                                     settings_block)]
    groups = [c for c in GROUP_COLUMNS if c in data.column_names]
    if groups:
        parts.append("<h3>Weight by group</h3>" + "".join(
            _group_table(c, data.column(c).to_pylist(), weights, keep, harmful, section_id) for c in groups))
    columns = _row_columns(data)
    order = np.argsort(weights, kind="stable")
    n = min(EXTREMES, len(order))
    parts += [f"<h3>The {n} lowest-weighted rows</h3>",
              table(columns, _rows(data, order[:n], columns), table_id=f"{section_id}-lowest"),
              f"<h3>The {n} highest-weighted rows</h3>",
              table(columns, _rows(data, order[::-1][:n], columns), table_id=f"{section_id}-highest"),
              "<h3>All rows</h3>", note("In file order; type to filter, click a column header to sort."),
              table(columns, _rows(data, np.arange(min(max_rows, data.num_rows)), columns),
                    table_id=f"{section_id}-rows", searchable=True, total=data.num_rows)]
    return Section("corpus", f"Weighted corpus: {Path(path).name}", "".join(parts), str(path))


def export_section(path: Path, max_rows: int, section_id: str = "export") -> Section:
    """What `curate export` wrote without weights (Top-K or resampled rows, e.g. --schema trl): its settings and
    a searchable table of the rows."""
    data = read_rows(path)
    meta = read_json(export_meta(path), what="the OUT.export.json written by `curate export`")
    keys = ("input", "mode", "schema", "format", "n", "seed", "keep_columns")
    settings = {k: meta[k] for k in keys if k in meta} | (meta.get("summary") or {})
    rows = data.slice(0, max_rows).to_pylist()
    columns = data.column_names
    body = (key_values(settings) + "<h3>Rows</h3>" +
            table(columns, [[{**r, **_text(r)}[c] for c in columns] for r in rows], table_id=f"{section_id}-rows",
                  searchable=True, total=data.num_rows))
    return Section("export", f"Export: {Path(path).name}", body, str(path))
