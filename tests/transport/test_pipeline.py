import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import transport.pipeline as pipeline
from curate.errors import ConfigError, InputError
from tests.transport._fixtures import unit
from transport._features import Features
from transport.config import SOTConfig


def _fake_inputs(monkeypatch, corpus_vectors=None, anchor_model="minilm"):
    """Replace the embed stage by fixed vectors: corpus 95 benign + 5 harmful rows, two anchor sets."""
    rng = np.random.default_rng(0)
    centers = unit(rng, 5, 12)
    def draw(k, clusters):
        x = centers[rng.choice(clusters, k)] + 0.2 * rng.normal(size=(k, 12))
        return x.astype(np.float32)
    x = np.vstack([draw(95, [0, 1, 2]), draw(5, [3, 4])]) if corpus_vectors is None else corpus_vectors
    ids = [f"r{i}" for i in range(len(x))]
    table = pa.table({"id": ids, "prompt": ["q"] * len(x), "is_harmful": [i >= 95 for i in range(len(x))]})
    inputs = {
        "corpus": Features(table, ids, x, [{"model": "minilm"}]),
        "safe": Features(None, [f"s{i}" for i in range(40)], draw(40, [0, 1, 2]), [{"model": "minilm"}]),
        "harm": Features(None, [f"h{i}" for i in range(30)], draw(30, [3, 4]), [{"model": anchor_model}]),
    }
    monkeypatch.setattr(pipeline, "load_features", lambda spec, config: inputs[spec])


def _config(tmp_path, **kw):
    return SOTConfig(out=tmp_path / "w.parquet", data="corpus", safe="safe", harmful="harm", progress=False, **kw)


def test_run_writes_outputs(tmp_path, monkeypatch):
    _fake_inputs(monkeypatch)
    summary = pipeline.run(_config(tmp_path, keep_fraction=0.9))
    table = pq.read_table(tmp_path / "w.parquet")
    assert table.column_names == ["id", "prompt", "is_harmful", "sot_weight", "pull_potential", "push_potential",
                                  "keep"]
    w = np.array(table.column("sot_weight").to_pylist())
    assert w.mean() == pytest.approx(1.0, rel=1e-5) and sum(table.column("keep").to_pylist()) == 90
    assert summary["auroc"] > 0.95
    saved = json.loads((tmp_path / "w.json").read_text())
    assert saved["method"] == "sot" and saved["objective"] and saved["summary"]["rows"] == 100
    assert (tmp_path / "w.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        pipeline.run(_config(tmp_path))


def test_bad_rows_fail_by_id_or_are_skipped(tmp_path, monkeypatch):
    x = unit(np.random.default_rng(1), 100, 12).astype(np.float32)
    x[7] = np.nan
    x[9] = 0.0
    _fake_inputs(monkeypatch, corpus_vectors=x)
    with pytest.raises(InputError, match=r"2 row\(s\) .*'r7', 'r9'.*--on-error skip"):
        pipeline.run(_config(tmp_path))
    summary = pipeline.run(_config(tmp_path, on_error="skip", method="heuristic"))
    assert summary["skipped_rows"] == 2 and pq.read_table(tmp_path / "w.parquet").num_rows == 98


def test_mismatched_models_name_both(tmp_path, monkeypatch):
    _fake_inputs(monkeypatch, anchor_model="other-model")
    with pytest.raises(InputError, match="corpus manifest model=.*minilm.*harmful manifest model=.*other-model"):
        pipeline.run(_config(tmp_path))


def test_unconverged_run_is_one_line_of_output_not_a_warning(tmp_path, monkeypatch, capsys):
    import warnings

    from curate.cli import main
    from transport.pushpull import PushPullWarning

    _fake_inputs(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PushPullWarning)  # the pipeline must not warn; the command says it once
        main(["sot-weight", "--data", "corpus", "--safe", "safe", "--harmful", "harm", "--out",
              str(tmp_path / "w.parquet"), "--max-outer", "2", "--tol", "1e-12", "--no-progress"])
    saved = json.loads((tmp_path / "w.json").read_text())
    assert saved["converged"] is False and saved["outer_iterations"] == 2
    change = saved["summary"]["relative_change"]
    assert change == pytest.approx(abs(saved["objective"][-1] - saved["objective"][-2]) / abs(saved["objective"][-1]))
    assert change > 1e-12
    lines = capsys.readouterr().out.splitlines()
    expected = f"stopped after 2 outer steps, relative change {change:.2g} > tol 1e-12; raise --max-outer to go further"
    assert [line for line in lines if line.startswith("stopped")] == [expected]


def test_convergence_note_only_when_stopped_before_tol(tmp_path):
    config = _config(tmp_path, max_outer=60, tol=1e-5)
    assert pipeline.convergence_note({"converged": True, "outer_iterations": 12, "relative_change": 1e-6},
                                     config) is None
    assert pipeline.convergence_note({"converged": False, "outer_iterations": 60, "relative_change": 3.1e-5},
                                     config) == ("stopped after 60 outer steps, relative change 3.1e-05 > tol 1e-05; "
                                                 "raise --max-outer to go further")
    stalled = pipeline.convergence_note({"converged": False, "outer_iterations": 9, "relative_change": 2e-4}, config)
    assert stalled.startswith("stopped after 9 outer steps, relative change 0.0002 > tol 1e-05: every smaller step")
    assert "--inner-max-iter" in stalled and "--max-outer" not in stalled
    assert "too few steps to compare with tol 1e-05" in pipeline.convergence_note(
        {"converged": False, "outer_iterations": 1, "relative_change": None}, _config(tmp_path, max_outer=1))
    assert pipeline.relative_change([]) is None and pipeline.relative_change([2.0]) is None
    assert pipeline.relative_change([2.0, 1.0]) == pytest.approx(1.0)
