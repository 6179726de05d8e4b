"""bench.daco.omp_speed on a tiny problem: every row runs, ours and scikit-learn agree, and the daco.json summary
carries {omp_speedup, n, atoms} from the rows timed to completion only."""

import json
import sys

import pytest

pytest.importorskip("sklearn")


def _run(monkeypatch, argv):
    from bench.daco import omp_speed

    monkeypatch.setattr(sys, "argv", ["omp_speed", *argv])
    omp_speed.main()


def test_tiny_run_agrees_and_summarises(tmp_path, monkeypatch):
    out, daco = tmp_path / "omp.json", tmp_path / "daco.json"
    daco.write_text(json.dumps({"sae_init": {"kept": True}}))
    _run(monkeypatch, ["--n", "60", "--atoms", "90", "--dim", "24", "--k", "4", "--threads", "1",
                       "--out", str(out), "--daco-results", str(daco)])
    payload = json.loads(out.read_text())
    rows = {r["solver"]: r for r in payload["rows"]}
    assert set(rows) == {"ours", "ours-gram", "sparse-encode", "orthogonal-mp-gram"}
    for name in ("sparse-encode", "orthogonal-mp-gram"):
        assert rows[name]["extrapolated"] is False
        assert rows[name]["same_support"] == 1.0
        assert rows[name]["ours_rel_error"] == pytest.approx(rows[name]["peer_rel_error"], abs=1e-5)
    merged = json.loads(daco.read_text())
    assert merged["sae_init"] == {"kept": True}
    omp = merged["omp"]
    assert (omp["n"], omp["atoms"], omp["k"]) == (60, 90, 4)
    assert omp["versus_peer"] == "sparse-encode"
    assert omp["omp_speedup"] == rows["sparse-encode"]["speedup"]


def test_extrapolated_rows_are_not_the_headline(tmp_path, monkeypatch):
    from bench.daco.omp_speed import summary

    row = {"seconds": 10.0, "versus": "ours", "speedup": 5.0, "same_support": 1.0, "max_abs_error_gap": 0.0}
    payload = {"n": 100, "atoms": 50, "dim": 8, "k": 2, "signals": "gaussian", "goal_speedup": 20,
               "command": "x", "rows": [{"solver": "ours", "seconds": 2.0},
                                        {"solver": "sparse-encode", "extrapolated": True, **row}]}
    assert summary(payload)["omp_speedup"] is None
    payload["rows"].append({"solver": "orthogonal-mp-gram", "extrapolated": False, **row, "speedup": 7.0})
    assert (summary(payload)["omp_speedup"], summary(payload)["versus_peer"]) == (7.0, "orthogonal-mp-gram")
