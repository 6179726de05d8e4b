"""The traffic a sharded SOT solve reports: the O(m) iteration calls, and apart from them the one O(n) gather of
the results, each figure matching the arrays that moved."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from embed.dask import connect

    client, close = connect("threads")  # one in-process worker: the counts do not depend on the worker kind
    yield client
    close()


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_result_gather_is_reported_with_its_bytes(tmp_path, client):
    from transport._solve import solve_sharded
    from transport.config import SOTConfig
    from transport.dask_shards import array_shards
    from transport.distributed import ShardedCorpus

    rng = np.random.default_rng(0)
    x, safe, harmful = (_unit(rng.standard_normal((k, 16))) for k in (120, 12, 7))
    config = SOTConfig(out=tmp_path / "w.parquet", data="x", safe="s", harmful="h", solver="stream",
                       dtype="float64", max_outer=3, progress=False)
    corpus = ShardedCorpus(client, array_shards(x, 50))  # shards of 50, 50 and 20 rows
    try:
        before = dict(corpus.traffic)
        res, info = solve_sharded(corpus, safe, harmful, config)
    finally:
        corpus.close()
    shards = 3
    assert info["shards"] == shards and len(res.weights) == len(x)
    # weights, pull and push potentials: float64 [n] each, plus each shard's index (8 bytes)
    assert info["result_bytes"] == 3 * 8 * len(x) + 8 * shards
    assert info["result_bytes"] == corpus.traffic["gathered"] - before["gathered"]
    assert info["total_bytes"] == info["setup_bytes"] + info["solve_bytes"] + info["result_bytes"]
    assert info["total_bytes"] == sum(corpus.traffic[k] - before[k] for k in ("sent", "received", "gathered"))
    # the per-outer-step figure stays the iteration calls only: O(m), not O(n)
    assert info["bytes_per_outer_step"] == info["solve_bytes"] / max(res.outer_iterations, 1)
    # the setup sent both anchor sets (float32 [m, d]) to the one worker
    assert info["setup_bytes"] >= (len(safe) + len(harmful)) * 16 * 4
