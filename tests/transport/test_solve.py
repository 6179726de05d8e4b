import numpy as np
import pytest
import torch

from curate.errors import ConfigError, InputError
from tests.transport._fixtures import unit
from transport._solve import choose_solver, solve_weights
from transport.config import SOTConfig


def _data(seed=0):
    rng = np.random.default_rng(seed)
    centers = unit(rng, 6, 16)
    def draw(k, clusters):
        x = centers[rng.choice(clusters, k)] + 0.2 * rng.normal(size=(k, 16))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    corpus = np.vstack([draw(285, [0, 1, 2, 3]), draw(15, [4, 5])])
    return corpus, draw(80, [0, 1, 2, 3]), draw(50, [4, 5]), np.r_[np.zeros(285), np.ones(15)].astype(bool)


def _cfg(tmp_path, **kw):
    return SOTConfig(out=tmp_path / "w.parquet", progress=False, **kw)


@pytest.mark.parametrize("method", ["sot", "heuristic", "pull-only", "push-only"])
def test_methods_rank_harmful_rows_low(tmp_path, method):
    from sklearn.metrics import roc_auc_score

    x, s, h, harmful = _data()
    res, _ = solve_weights(x, s, h, _cfg(tmp_path, method=method), torch.device("cpu"))
    assert res.weights.mean() == pytest.approx(1.0, rel=1e-5)
    assert roc_auc_score(harmful, -res.weights) > 0.95


def test_sparse_solver_and_same_seed_identical(tmp_path):
    x, s, h, harmful = _data(1)
    cfg = _cfg(tmp_path, solver="sparse", knn=8, anchor_clusters=20, seed=3)
    a, info = solve_weights(x, s, h, cfg, torch.device("cpu"))
    b, _ = solve_weights(x, s, h, cfg, torch.device("cpu"))
    assert info["solver"] == "sparse" and info["anchors"] == [20, 20] and info["rho"] == 0.1 and info["push_rho"] == 0.1
    assert np.array_equal(a.weights, b.weights)
    assert a.weights[harmful].mean() < 0.5 * a.weights[~harmful].mean()


def test_dask_equals_local(tmp_path):
    x, s, h, _ = _data(2)
    # a few outer steps suffice to compare the two paths step for step
    local, _ = solve_weights(x, s, h, _cfg(tmp_path, solver="stream", dtype="float64", max_outer=6),
                             torch.device("cpu"))
    dist, info = solve_weights(x, s, h, _cfg(tmp_path, dask="threads", dtype="float64", max_outer=6),
                               torch.device("cpu"))
    assert info["solver"] == "dask"
    assert np.allclose(dist.weights, local.weights, rtol=1e-5, atol=0)


def test_uniform_and_empty_anchors(tmp_path):
    x, s, h, _ = _data()
    res, _ = solve_weights(x, s, h, _cfg(tmp_path, method="uniform"), torch.device("cpu"))
    assert np.array_equal(res.weights, np.ones(len(x)))
    with pytest.raises(InputError, match="harmful anchor set is empty"):
        solve_weights(x, s, h[:0], _cfg(tmp_path), torch.device("cpu"))


def test_auto_solver_choice(tmp_path):
    cfg = _cfg(tmp_path)
    assert choose_solver(cfg, 1000, 1000, torch.device("cpu")) == "dense"
    assert choose_solver(cfg, 10**6, 10**4, torch.device("cpu")) == "sparse"
    assert choose_solver(cfg, 10**6, 10**4, torch.device("cuda")) == "stream"


@pytest.mark.parametrize("kw, match", [
    ({"eps": 0.0}, "--eps must be > 0"), ({"knn": 0}, "--knn must be > 0"),
    ({"keep_fraction": 0.5, "top_k": 3}, "exclusive"), ({"keep_fraction": 1.5}, "keep-fraction must be in"),
    ({"rho": -1.0}, "--rho must be > 0"), ({"tau": -1.0}, "--tau and --beta"),
])
def test_bad_options(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(tmp_path, **kw)


def test_out_must_be_parquet(tmp_path):
    with pytest.raises(ConfigError, match="--out must name a .parquet"):
        SOTConfig(out=tmp_path / "w.csv")
