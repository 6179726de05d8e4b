import numpy as np
import pytest
import torch

from concepts.decompose import ConvergenceWarning, decompose
from curate.errors import ConfigError, InputError


def _dictionary(rng, K, d):
    D = rng.normal(size=(K, d))
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def test_omp_equals_scikit_learn():
    from sklearn.linear_model import orthogonal_mp_gram

    rng = np.random.default_rng(0)
    D, X = _dictionary(rng, 60, 20), rng.normal(size=(30, 20))
    for k in (1, 5, 12):
        ours = decompose(X, D, k=k)
        ref = orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=k).T
        np.testing.assert_allclose(ours.codes, ref, atol=1e-10)
        np.testing.assert_allclose(ours.residual, X - ref @ D, atol=1e-10)
        assert ((ours.codes != 0).sum(1) == k).all()


def test_omp_recovers_planted_sparse_codes_float32_torch():
    rng = np.random.default_rng(1)
    D = _dictionary(rng, 100, 64)
    A = np.zeros((50, 100))
    for row in A:
        row[rng.choice(100, 4, replace=False)] = rng.uniform(1, 2, 4) * rng.choice([-1, 1], 4)
    X = torch.tensor(A @ D, dtype=torch.float32)
    out = decompose(X, torch.tensor(D, dtype=torch.float32), k=4)
    assert isinstance(out.codes, torch.Tensor) and out.codes.dtype == torch.float32
    torch.testing.assert_close(out.codes, torch.tensor(A, dtype=torch.float32), atol=1e-4, rtol=0)
    assert out.residual.abs().max() < 1e-4


def test_omp_stops_when_residual_vanishes():
    rng = np.random.default_rng(2)
    D = _dictionary(rng, 30, 16)
    X = 2.0 * D[[3]]
    out = decompose(X, D, k=5)
    assert out.codes[0, 3] == pytest.approx(2.0) and (out.codes != 0).sum() == 1
    assert (out.support[0] >= 0).sum() == 1


def test_lasso_matches_scikit_learn_objective():
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(3)
    D, X = _dictionary(rng, 40, 20), rng.normal(size=(10, 20))
    alpha = 0.3
    ours = decompose(X, D, alpha=alpha, method="lasso", max_iter=20_000, tol=1e-12)
    ref = np.stack([Lasso(alpha=alpha / 20, fit_intercept=False, tol=1e-12, max_iter=200_000).fit(D.T, x).coef_
                    for x in X])

    def objective(A):
        return 0.5 * ((X - A @ D) ** 2).sum(1) + alpha * np.abs(A).sum(1)

    assert np.all(objective(ours.codes) <= objective(ref) + 1e-8)
    np.testing.assert_allclose(ours.codes, ref, atol=1e-4)


def test_lasso_warns_when_not_converged():
    rng = np.random.default_rng(4)
    D, X = _dictionary(rng, 40, 20), rng.normal(size=(4, 20))
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        decompose(X, D, alpha=0.01, method="lasso", max_iter=3)


def test_bad_input():
    rng = np.random.default_rng(5)
    D, X = _dictionary(rng, 10, 8), rng.normal(size=(3, 8))
    with pytest.raises(ConfigError, match="k=11 but the dictionary has 10 atoms"):
        decompose(X, D, k=11)
    with pytest.raises(InputError, match="activations are 7-d but the dictionary atoms are 8-d"):
        decompose(X[:, :7], D, k=2)
    with pytest.raises(ConfigError, match="method='ista'"):
        decompose(X, D, method="ista")
    with pytest.raises(ConfigError, match="alpha=-1"):
        decompose(X, D, alpha=-1, method="lasso")
