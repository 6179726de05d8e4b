"""The bench's head maps: CAST's diagnosis on calibration draws a and b, and how far the two agree.

Draw a's map (with the chosen sensitivity, ablation by default) selects the heads of every arm; draw b's map
exists only to measure stability. With ablation sensitivity, draw a is also scored with Taylor sensitivity
(free: the same gradients) so the two sensitivities can be compared on >= 64 rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.cast._stability import map_stability, spearman
from bench.common import write_json

__all__ = ["STABILITY_RHOS", "diagnose_config", "stage_maps", "load_columns"]

STABILITY_RHOS = (0.05, 0.1, 0.2)
"""Skip fractions whose top-rho overlap is always reported, whatever --rhos a (resumed) run asks for, so a run of a
subset of the arms does not rewrite the stored stability with fewer fractions."""


def diagnose_config(args, out: Path, sensitivity: str):
    from train.cast.diagnose import DiagnoseConfig

    batches = args.calibration_rows // args.diag_batch_size
    return DiagnoseConfig(out=out, model=args.model, batches=batches, batch_size=args.diag_batch_size,
                          ablation_batches=min(args.ablation_batches or batches, batches),
                          max_length=args.max_length, sensitivity=sensitivity, system=args.system, seed=args.seed,
                          overwrite=True)


def load_columns(folder: Path) -> dict[str, np.ndarray]:
    from train.cast.conflict_map import load_conflict_map

    return load_conflict_map(folder).columns


def _compute_seconds(folder: Path) -> float | None:
    """Seconds the map took when it was computed (its manifest), also when this run restored it from a store."""
    import json

    from train.cast.conflict_map import MANIFEST_FILE

    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    parts = [manifest.get(k) for k in ("gradients_s", "sensitivity_s")]
    return round(sum(parts), 1) if all(isinstance(x, (int, float)) for x in parts) else None


def _diagnose_draw(model, tokenizer, splits, draw: str, args, out: Path, sensitivity: str) -> dict:
    """The map of one draw, written to `out` (skipped when `out` already holds a finished map)."""
    from train.cast.conflict_map import MANIFEST_FILE, write_conflict_map
    from train.cast.diagnose import diagnose

    if (out / MANIFEST_FILE).exists():
        return load_columns(out)
    config = diagnose_config(args, out, sensitivity)
    n = config.batches * config.batch_size
    safe = splits[f"calib_safe_{draw}"].slice(0, n).to_pylist()
    util = splits[f"calib_util_{draw}"].slice(0, n).to_pylist()
    columns, info = diagnose(model, tokenizer, safe, util, config)
    cfg = model.config
    manifest = {"model": args.model, "draw": draw, "layers": int(columns["layer"].max()) + 1,
                "heads": cfg.num_attention_heads, "rows_per_set": n, "sensitivity": sensitivity,
                "combine": config.combine, **info}
    write_conflict_map(out, columns, manifest)
    return columns


def stage_maps(model, tokenizer, splits, args, work: Path) -> dict:
    """Maps a and b (and a's Taylor map when the default is ablation); writes stability.json; returns
    {"columns": draw a's map, "stability": {...}}."""
    maps = {draw: _diagnose_draw(model, tokenizer, splits, draw, args, work / f"map_{draw}", args.sensitivity)
            for draw in "ab"}
    rhos = sorted({*STABILITY_RHOS, *args.rhos, args.lora_rho})
    stability = {"draws": "a and b: disjoint D_safe and D_util rows, same model, same settings",
                 "sensitivity": args.sensitivity, **map_stability(maps["a"], maps["b"], rhos)}
    folders = ["map_a", "map_b"]
    if args.sensitivity == "ablation" and args.compare_taylor:
        taylor = _diagnose_draw(model, tokenizer, splits, "a", args, work / "map_a_taylor", "taylor")
        stability["ablation_vs_taylor_spearman"] = {c: spearman(maps["a"][c], taylor[c])
                                                    for c in ("sensitivity", "score")}
        folders.append("map_a_taylor")
    stability["compute_s"] = {name: _compute_seconds(work / name) for name in folders}
    write_json(work / "stability.json", stability)
    return {"columns": maps["a"], "columns_b": maps["b"], "stability": stability}
