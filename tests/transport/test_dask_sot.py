"""`curate sot-weight --dask local:2`: worker processes read their own embedding shards, keep their kernels, and
the weights equal the local run's; a worker killed mid-solve leaves no output behind, and a rerun completes."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pyarrow.parquet as pq
import pytest

from embed import EmbedConfig
from embed import run as embed_run
from embed.config import EmbedSettings
from transport.config import SOTConfig
from transport.pipeline import run

pytest.importorskip("distributed")


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def inputs(tmp_path):
    """A 160-row corpus (every tenth row harmful, one null prompt) and two small anchor sets, as JSONL."""
    topics = ["bake bread", "fix a bike", "plant tomatoes", "learn chess", "build a bomb", "steal a car"]
    corpus = [{"id": f"r{k:03d}", "prompt": None if k == 17 else f"how do I {topics[k % 6]}, case {k}",
               "response": f"answer {k} " + "x" * (k % 9), "is_harmful": k % 6 >= 4} for k in range(160)]
    safe = [{"prompt": f"how do I {topics[k % 4]} well, {k}"} for k in range(40)]
    harmful = [{"prompt": f"how do I {topics[4 + k % 2]} now, {k}"} for k in range(30)]
    return {name: str(_jsonl(tmp_path / f"{name}.jsonl", rows))
            for name, rows in (("corpus", corpus), ("safe", safe), ("harmful", harmful))}


@pytest.fixture
def folders(tmp_path, inputs, tiny_text_model):
    """The inputs embedded by the tiny model into embedding folders; the corpus in four shards."""
    out = {}
    for name, spec in inputs.items():
        out[name] = tmp_path / f"emb-{name}"
        embed_run(EmbedConfig(inputs=(spec,), out=out[name], model=str(tiny_text_model), shard_size=45,
                              on_error="skip", progress=False))
    return out


def _sot(tmp_path, name, **options):
    return SOTConfig(out=tmp_path / f"{name}.parquet", progress=False, dtype="float64", max_outer=6,
                     inner_max_iter=60, knn=6, **options)


def _assert_same_output(local_path, dask_path):
    local, dask = pq.read_table(local_path), pq.read_table(dask_path)
    assert dask.column_names == local.column_names
    assert dask.column("id").to_pylist() == local.column("id").to_pylist()
    np.testing.assert_allclose(dask.column("sot_weight").to_numpy(), local.column("sot_weight").to_numpy(),
                               rtol=0, atol=1e-5)
    assert dask.column("keep").to_pylist() == local.column("keep").to_pylist()
    for column in set(local.column_names) - {"sot_weight", "pull_potential", "push_potential", "keep"}:
        assert dask.column(column).to_pylist() == local.column(column).to_pylist()


@pytest.mark.parametrize("solver", ["sparse", "stream"])
def test_workers_read_their_shards_and_equal_the_local_run(tmp_path, folders, solver):
    paths = dict(data=str(folders["corpus"]), safe=str(folders["safe"]), harmful=str(folders["harmful"]))
    local = run(_sot(tmp_path, "local", solver=solver, **paths))
    # the corpus folder given as an fsspec URL: workers open its shards themselves
    distributed = run(_sot(tmp_path, "dask", solver=solver, dask="local:2",
                           **{**paths, "data": f"file://{folders['corpus']}"}))
    _assert_same_output(tmp_path / "local.parquet", tmp_path / "dask.parquet")
    info = json.loads((tmp_path / "dask.json").read_text())["solver"]
    assert info["kernel"] == solver and info["shards"] == 4 and info["workers"] == 2
    # O(m) per worker and call: far below the n = 159 rows × 8 bytes one potential would take per half-step
    assert info["solve_bytes"] / info["solve_calls"] < 8 * 159
    assert distributed["rows"] == local["rows"] == 159 and distributed["kept"] == local["kept"]


def test_table_input_is_embedded_on_the_cluster_and_joined_on_id(tmp_path, inputs, tiny_text_model):
    """A JSONL corpus: embedded by the workers, weighted, written back row by row with its own columns; the row
    the embed stage skips (null prompt) is dropped and counted as the local run does."""
    options = dict(data=inputs["corpus"], safe=inputs["safe"], harmful=inputs["harmful"], on_error="skip",
                   solver="sparse", embed=EmbedSettings(model=str(tiny_text_model)),
                   embeddings_cache=tmp_path / "cache")
    distributed = run(_sot(tmp_path, "dask", dask="local:2", **options))
    local = run(_sot(tmp_path, "local", **options))  # reuses the embeddings the workers wrote
    _assert_same_output(tmp_path / "local.parquet", tmp_path / "dask.parquet")
    assert distributed["skipped_rows"] == local["skipped_rows"] == 1
    assert distributed["auroc"] == pytest.approx(local["auroc"], abs=1e-9)


def test_a_killed_worker_leaves_no_output_and_a_rerun_completes(tmp_path, folders, monkeypatch):
    from embed.dask import WorkerLostError
    from transport.distributed import ShardedCorpus

    original = ShardedCorpus.call
    calls = {"row_scaled": 0}

    def kill_one_worker_mid_solve(self, method, *args):
        if method == "row_scaled":
            calls["row_scaled"] += 1
            if calls["row_scaled"] == 3:
                pids = self.client.run(os.getpid)
                os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
        return original(self, method, *args)

    paths = dict(data=str(folders["corpus"]), safe=str(folders["safe"]), harmful=str(folders["harmful"]))
    monkeypatch.setattr(ShardedCorpus, "call", kill_one_worker_mid_solve)
    with pytest.raises(WorkerLostError, match="nothing was written. Rerun the same command"):
        run(_sot(tmp_path, "dask", solver="sparse", dask="local:2", **paths))
    assert calls["row_scaled"] >= 3
    assert not list(tmp_path.glob("dask*")) and not list(tmp_path.glob(".dask*"))  # no output, no temporary
    monkeypatch.setattr(ShardedCorpus, "call", original)
    run(_sot(tmp_path, "dask", solver="sparse", dask="local:2", **paths))
    run(_sot(tmp_path, "local", solver="sparse", **paths))
    _assert_same_output(tmp_path / "local.parquet", tmp_path / "dask.parquet")


def test_the_picture_of_a_large_run_is_a_seeded_sample():
    """The --dask driver draws at most PICTURE_ROWS points (matplotlib holds them all), the same ones each run."""
    from transport.pipeline import PICTURE_ROWS, _picture_rows

    assert _picture_rows(PICTURE_ROWS, seed=0) is None
    rows = _picture_rows(3 * PICTURE_ROWS, seed=0)
    assert len(np.unique(rows)) == len(rows) == PICTURE_ROWS and rows.max() < 3 * PICTURE_ROWS
    assert np.array_equal(rows, _picture_rows(3 * PICTURE_ROWS, seed=0))
    assert not np.array_equal(rows, _picture_rows(3 * PICTURE_ROWS, seed=1))
