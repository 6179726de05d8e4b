"""The fair CAST bench end to end on a tiny saved Llama: maps and stability, the cost check, arms and rows."""
from __future__ import annotations

import json

import pytest

from bench.cast import fair

SMALL = ["--train-rows", "16", "--eval-harmful", "4", "--eval-benign", "4", "--nll-rows", "4", "--max-length", "48",
         "--diag-batch-size", "32", "--ablation-batches", "1", "--max-new-tokens", "4", "--batch-size", "4"]


def _run(tmp_path, model, *extra) -> dict:
    return fair.main(["--work", str(tmp_path / "work"), "--results", str(tmp_path / "cast.json"),
                      "--figures", str(tmp_path / "figures"), "--store", str(tmp_path / "store"),
                      "--model", str(model), "--device", "cpu",
                      *SMALL, *extra])


def test_maps_and_stability(tiny_lm_model, tmp_path, hash_judge, one_torch_thread):
    payload = _run(tmp_path, tiny_lm_model, "--stop-after", "maps", "--rhos", "0.25,0.5", "--force-arms")
    stability = json.loads((tmp_path / "cast.json").read_text())["map_stability"]
    assert stability == payload["map_stability"]
    assert stability["heads"] == 8 and set(stability["top_overlap"]) == {"0.05", "0.1", "0.2", "0.25", "0.5"}
    assert set(stability["compute_s"]) == {"map_a", "map_b", "map_a_taylor"}
    assert all(v is not None and v >= 0 for v in stability["compute_s"].values())
    assert stability["top_overlap"]["0.25"]["k"] == 2 and stability["top_overlap"]["0.5"]["chance"] == 0.5
    assert -1 <= stability["spearman"]["score"] <= 1
    assert "ablation_vs_taylor_spearman" in stability
    for folder in ("map_a", "map_b", "map_a_taylor"):
        manifest = json.loads((tmp_path / "work" / folder / "manifest.json").read_text())
        assert manifest["rows_per_set"] == 64
    assert json.loads((tmp_path / "work" / "map_a_taylor" / "manifest.json").read_text())["sensitivity"] == "taylor"
    pictures = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert pictures == ["head_map_rho0.25.png", "head_map_rho0.5.png"]  # one per ratio, none left over
    assert all((tmp_path / "figures" / name).stat().st_size > 1000 for name in pictures)
    assert payload["figures"] == [str((tmp_path / "figures" / name).resolve()) for name in pictures]
    # the draws differ, so their maps are not the same numbers
    import pyarrow.parquet as pq

    a = pq.read_table(tmp_path / "work" / "map_a" / "conflict_map.parquet").column("conflict").to_pylist()
    b = pq.read_table(tmp_path / "work" / "map_b" / "conflict_map.parquet").column("conflict").to_pylist()
    assert a != pytest.approx(b)


class HashJudge:
    """A stand-in for the shipped judge: a verdict from the answer's text, fixed per answer."""

    def predict(self, prompts, responses):
        import zlib

        import numpy as np

        from curate.evaluation.verdicts import JudgeResult

        scores = np.zeros((len(responses), 3))
        for i, r in enumerate(responses):
            scores[i, zlib.crc32(r.encode()) % 3] = 1.0
        return JudgeResult.from_scores(scores)


@pytest.fixture
def hash_judge(monkeypatch):
    import bench.cast._evaluate

    monkeypatch.setattr(bench.cast._evaluate, "load_judge_for", lambda path: HashJudge())


def test_plan_prints_seconds_per_step_first(tiny_lm_model, tmp_path, hash_judge, capsys, one_torch_thread):
    payload = _run(tmp_path, tiny_lm_model, "--stop-after", "plan", "--seeds", "0,1", "--arms", "full,cast,random",
                   "--rhos", "0.25", "--random-draws", "2")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[cast] measured ") and " s/step " in out[0]
    assert payload["plan"]["arms"] == 2 * (1 + 1 + 2)
    assert payload["plan"]["step_s"] > 0 and payload["plan"]["arms_estimate_s"] >= 0
    assert payload["base"]["arm"] == "base" and payload["base"]["n_harmful"] == 4
    assert not (tmp_path / "work" / "map_a").exists()  # the plan comes before any map


def test_cost_check_stops_without_a_cost(tiny_lm_model, tmp_path, hash_judge, capsys, one_torch_thread):
    payload = _run(tmp_path, tiny_lm_model, "--stop-after", "arms", "--steps", "2", "--seeds", "0",
                   "--rhos", "0.25", "--arms", "full,cast", "--no-compare-taylor")
    cost = payload["cost"]
    assert set(cost) >= {"dsr_full", "nll_rose", "refusal_ok", "passed", "nll_rise"}
    out = capsys.readouterr().out
    assert "[cast] cost check: refusal" in out
    if not cost["passed"]:  # a random tiny model rarely refuses 90%: the arms must not run
        assert [r["arm"] for r in payload["rows"]] == ["full"] and "the cost is not shown" in out
        assert sorted(p.name for p in (tmp_path / "work" / "arms").iterdir()) == ["base", "full-s0"]
        assert not (tmp_path / "work" / "map_a").exists()  # nothing more is spent


ROW_FIELDS = {"arm", "rho", "seed", "dsr", "dsr_ci", "or", "or_ci", "degenerate", "nll", "nll_ci", "params_updated"}


def test_every_arm_runs_and_is_written(tiny_lm_model, tmp_path, hash_judge, capsys, one_torch_thread):
    payload = _run(tmp_path, tiny_lm_model, "--force-arms", "--steps", "2", "--seeds", "0,1", "--rhos", "0.25",
                   "--random-draws", "2", "--lora-rho", "0.25", "--no-compare-taylor")
    saved = json.loads((tmp_path / "cast.json").read_text())
    rows = saved["rows"]
    assert len(rows) == 2 * (1 + 1 + 2 + 1 + 1) and all(ROW_FIELDS <= set(r) for r in rows)
    assert {r["arm"] for r in rows} == {"full", "cast", "random", "low-conflict", "lora"}
    by = {(r["arm"], r["seed"], r["draw"]): r for r in rows}
    cast = by[("cast", 0, None)]
    assert cast["heads_skipped"] == 2 and cast["params_updated"] == cast["params_planned"]
    assert by[("full", 0, None)]["params_updated"] > cast["params_updated"]
    for seed in (0, 1):
        for draw in (0, 1):
            assert by[("random", seed, draw)]["params_updated"] == cast["params_updated"]
    lora = by[("lora", 0, None)]
    assert lora["lora_rank"] >= 1 and lora["params_updated"] > 0
    for r in rows:
        assert 0 <= r["dsr_ci"][0] <= r["dsr"] <= r["dsr_ci"][1] <= 1
        assert r["nll_ci"][0] <= r["nll"] <= r["nll_ci"][1]
    assert set(saved["paired_tests"]) == {"cast-rho0.25", "low-conflict-rho0.25", "lora-rho0.25"}
    assert saved["paired_tests"]["cast-rho0.25"]["dsr_mcnemar"]["n_pairs"] == 2 * 4
    assert set(saved["paired_vs_full"]) == {"cast-rho0.25", "low-conflict-rho0.25", "lora-rho0.25"}
    assert saved["paired_vs_full"]["cast-rho0.25"]["dsr_mcnemar"]["n_pairs"] == 2 * 4  # one full run per seed
    assert "full_rate" in saved["paired_vs_full"]["cast-rho0.25"]["dsr_mcnemar"]  # named by its reference
    assert saved["claim"][0]["rho"] == 0.25 and saved["claim"][0]["evaluated"]
    assert saved["map_stability"]["heads"] == 8
    assert set(saved) >= {"settings", "data", "plan", "base", "map_stability", "budgets", "cost", "rows",
                          "paired_tests", "claim", "figures", "timings", "machine"}
    assert len(payload["rows"]) == len(rows) and saved["settings"]["seeds"] == [0, 1]
    assert "| cast | 0.25 | 2 |" in (tmp_path / "work" / "results.md").read_text()
    # a rerun skips every finished arm: no training happens
    capsys.readouterr()
    again = _run(tmp_path, tiny_lm_model, "--force-arms", "--steps", "2", "--seeds", "0,1", "--rhos", "0.25",
                 "--random-draws", "2", "--lora-rho", "0.25", "--no-compare-taylor")
    assert "[cast] measured" in capsys.readouterr().out
    assert [r["nll"] for r in again["rows"]] == [r["nll"] for r in rows]
    assert [r["train_s"] for r in again["rows"]] == [r["train_s"] for r in rows]


def test_work_made_with_other_settings_is_refused(tmp_path):
    from curate.errors import ConfigError

    work = ["--work", str(tmp_path / "w"), "--results", str(tmp_path / "c.json"), "--stop-after", "data",
            "--no-store"]
    fair.main([*work, *SMALL])
    fair.main([*work, *SMALL, "--seeds", "0,1,2,3"])  # more seeds reuse the finished stages
    with pytest.raises(ConfigError, match=r"--lr 0.0001 -> 0.001.*--steps 100 -> 50"):
        fair.main([*work, *SMALL, "--lr", "1e-3", "--steps", "50"])
