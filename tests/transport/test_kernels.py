import numpy as np
import pytest
import torch

from curate.errors import ConfigError
from tests.transport._fixtures import problem, unit
from transport._kernels import DenseKernel
from transport.compress import compress_anchors
from transport.distributed import DaskKernel
from transport.sinkhorn import sinkhorn_kernel
from transport.sparse import SparseKernel, knn_anchors
from transport.stream import StreamKernel

EPS = 0.1


def _dense(x, y):
    return DenseKernel(torch.tensor(1.0 - x @ y.T), EPS)


def _solve(kernel, a, b, rho=None):
    return sinkhorn_kernel(kernel, torch.tensor(a), torch.tensor(b), rho=rho, tol=1e-12, max_iter=5000)


def test_sparse_with_knn_m_equals_dense():
    x, y, a, b = problem(0, n=40, m=15)
    cost, idx = knn_anchors(x, y, knn=15)
    sparse = SparseKernel(torch.tensor(cost, dtype=torch.float64), torch.tensor(idx), 15, EPS)
    r_s, r_d = _solve(sparse, a, b), _solve(_dense(x, y), a, b)
    assert r_s.value == pytest.approx(r_d.value, abs=1e-6)
    assert torch.allclose(r_s.f - r_s.f.mean(), r_d.f - r_d.f.mean(), atol=1e-5)


def test_sparse_semi_relaxed_handles_unreached_anchors():
    x, y, a, b = problem(1, n=10, m=30)
    cost, idx = knn_anchors(x, y, knn=2)  # at most 20 of 30 anchors are anyone's neighbour
    res = _solve(SparseKernel(torch.tensor(cost, dtype=torch.float64), torch.tensor(idx), 30, EPS), a, b, rho=0.5)
    assert res.converged and np.isfinite(res.value) and torch.isfinite(res.f).all()


def test_knn_larger_than_anchor_set():
    x, y, _, _ = problem(0, m=5)
    with pytest.raises(ConfigError, match="--knn 6 is larger than the anchor set"):
        knn_anchors(x, y, knn=6)


def test_stream_equals_dense():
    x, y, a, b = problem(2, n=50, m=12)
    stream = StreamKernel(torch.tensor(x), torch.tensor(y), EPS, block_rows=7)
    h_m, h_n = torch.randn(12, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    dense = _dense(x, y)
    assert torch.allclose(stream.row_lse(h_m), dense.row_lse(h_m), atol=1e-12)
    assert torch.allclose(stream.col_lse(h_n), dense.col_lse(h_n), atol=1e-12)


def test_dask_equals_local():
    x, y, a, b = problem(3, n=60, m=10)
    shards = [x[:25], x[25:40], x[40:]]
    r_k = _solve(DaskKernel(shards, y, EPS, scheduler="threads"), a, b)
    r_l = _solve(_dense(x, y), a, b)
    assert r_k.value == pytest.approx(r_l.value, rel=1e-10)
    assert torch.allclose(r_k.f, r_l.f, rtol=1e-10, atol=1e-12)


def test_compress_keeps_mass_and_is_seeded():
    rng = np.random.default_rng(0)
    y = unit(rng, 500, 16)
    c1, m1 = compress_anchors(y, None, 20, seed=1)
    c2, m2 = compress_anchors(y, None, 20, seed=1)
    assert np.array_equal(c1, c2) and np.array_equal(m1, m2)
    assert m1.sum() == pytest.approx(1.0) and np.allclose(np.linalg.norm(c1, axis=1), 1.0, atol=1e-5)
    assert compress_anchors(y, None, 600)[0] is y


def test_normalize_rows_names_bad_rows_and_cost_checks_dims():
    from curate.errors import InputError
    from transport.cost import cosine_cost, normalize_rows

    x = torch.tensor([[3.0, 4.0], [0.0, 0.0], [float("nan"), 1.0]])
    with pytest.raises(InputError, match=r"2 row\(s\).*\['b', 'c'\].*--on-error skip"):
        normalize_rows(x, ids=["a", "b", "c"])
    assert torch.allclose(normalize_rows(x[:1]), torch.tensor([[0.6, 0.8]]))
    with pytest.raises(InputError, match="dimension mismatch"):
        cosine_cost(torch.ones(2, 3), torch.ones(2, 4))
