"""Dask runner: a real LocalCluster, one task per shard, same output as the local runner."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embed import EmbedConfig, run

pytest.importorskip("distributed")


def test_dask_local_cluster_equals_local_run(tmp_path, corpus, tiny_text_model):
    common = dict(inputs=(corpus,), model=str(tiny_text_model), shard_size=12, batch_size=8, progress=False)
    local = run(EmbedConfig(out=tmp_path / "local", **common))
    distributed = run(EmbedConfig(out=tmp_path / "dask", dask="local-threads:2", **common))
    assert distributed.ids == local.ids
    np.testing.assert_allclose(distributed.vectors, local.vectors, atol=1e-5)
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["complete"] and [s["index"] for s in manifest["shards"]] == [0, 1, 2, 3, 4]
    assert all(s["complete"] and s["timings"]["encode_s"] > 0 for s in manifest["shards"])


def test_dask_resumes_like_local(tmp_path, corpus):
    from tests.embed import fakes
    from tests.embed.fakes import FakeBuilder

    config = EmbedConfig(inputs=(corpus,), out=tmp_path / "out", shard_size=10, progress=False,
                         dask="local-threads:1")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(config, builder=FakeBuilder(fail_after=2, name="dask-crash"))
    fakes.CALLS["dask-resume"] = []
    resumed = run(config, builder=FakeBuilder(name="dask-resume"))
    reference = run(EmbedConfig(inputs=(corpus,), out=tmp_path / "ref", shard_size=10, progress=False),
                    builder=FakeBuilder(name="dask-ref"))
    assert len(fakes.CALLS["dask-resume"]) < 6
    assert resumed.ids == reference.ids and np.array_equal(resumed.vectors, reference.vectors)
