"""The fair CAST bench end to end on a tiny saved Llama: maps and stability, the cost check, arms and rows."""
from __future__ import annotations

import json

import pytest

from bench.cast import fair

SMALL = ["--train-rows", "16", "--eval-harmful", "4", "--eval-benign", "4", "--nll-rows", "4", "--max-length", "48",
         "--diag-batch-size", "32", "--ablation-batches", "1", "--max-new-tokens", "4", "--batch-size", "4"]


def _run(tmp_path, model, *extra) -> dict:
    return fair.main(["--work", str(tmp_path / "work"), "--results", str(tmp_path / "cast.json"),
                      "--figures", str(tmp_path / "figures"), "--model", str(model), "--device", "cpu",
                      *SMALL, *extra])


def test_maps_and_stability(tiny_lm_model, tmp_path, one_torch_thread):
    payload = _run(tmp_path, tiny_lm_model, "--stop-after", "maps", "--rhos", "0.25,0.5")
    stability = json.loads((tmp_path / "cast.json").read_text())["map_stability"]
    assert stability == payload["map_stability"]
    assert stability["heads"] == 8 and set(stability["top_overlap"]) == {"0.25", "0.5"}
    assert stability["top_overlap"]["0.25"]["k"] == 2 and stability["top_overlap"]["0.5"]["chance"] == 0.5
    assert -1 <= stability["spearman"]["score"] <= 1
    assert "ablation_vs_taylor_spearman" in stability
    for folder in ("map_a", "map_b", "map_a_taylor"):
        manifest = json.loads((tmp_path / "work" / folder / "manifest.json").read_text())
        assert manifest["rows_per_set"] == 64
    assert json.loads((tmp_path / "work" / "map_a_taylor" / "manifest.json").read_text())["sensitivity"] == "taylor"
    assert (tmp_path / "figures" / "head_map.png").stat().st_size > 1000
    # the draws differ, so their maps are not the same numbers
    import pyarrow.parquet as pq

    a = pq.read_table(tmp_path / "work" / "map_a" / "conflict_map.parquet").column("conflict").to_pylist()
    b = pq.read_table(tmp_path / "work" / "map_b" / "conflict_map.parquet").column("conflict").to_pylist()
    assert a != pytest.approx(b)
