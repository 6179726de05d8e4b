"""The fast paths (scaling domain, warm state, Anderson, adaptive step) give the plain algorithm's answers."""

import numpy as np
import pytest
import torch

from tests.transport._fixtures import problem, unit
from transport._kernels import DenseKernel
from transport.pushpull import push_pull
from transport.sinkhorn import sinkhorn_kernel
from transport.sparse import SparseKernel, knn_anchors

EPS = 0.05


def _clustered(seed: int, n: int, m: int, k: int = 6, d: int = 16):
    """Sources and anchors around k shared centres (the near-decomposable case that slows Sinkhorn)."""
    rng = np.random.default_rng(seed)
    centers = unit(rng, k, d)
    def draw(count):
        x = centers[rng.integers(0, k, count)] + 0.15 * rng.normal(size=(count, d))
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    a = rng.random(n) + 0.2
    return draw(n), draw(m), torch.tensor(a / a.sum()), torch.full((m,), 1.0 / m, dtype=torch.float64)


def _sparse(x, y, knn):
    cost, idx = knn_anchors(x, y, knn)
    return SparseKernel(torch.tensor(cost, dtype=torch.float64), torch.tensor(idx), len(y), EPS)


@pytest.mark.parametrize("rho", [None, 0.5])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_scaling_domain_equals_log_domain(kind, rho):
    x, y, a, b = _clustered(0, 80, 30)
    kernel = DenseKernel(torch.tensor(1.0 - x @ y.T), EPS) if kind == "dense" else _sparse(x, y, 30)
    log = sinkhorn_kernel(kernel, a, b, rho=rho, tol=1e-11, max_iter=20000, scaling=False)
    fast = sinkhorn_kernel(kernel, a, b, rho=rho, tol=1e-11, max_iter=20000)
    assert log.converged and fast.converged and fast.state is not None and log.state is None
    assert fast.value == pytest.approx(log.value, abs=1e-9)
    assert torch.allclose(fast.f - fast.f.mean(), log.f - log.f.mean(), atol=1e-7)


def test_anderson_same_answer_in_fewer_iterations():
    x, y, a, b = _clustered(1, 200, 60)
    kernel = _sparse(x, y, 12)
    plain = sinkhorn_kernel(kernel, a, b, rho=1.0, tol=1e-9, max_iter=20000)
    mixed = sinkhorn_kernel(kernel, a, b, rho=1.0, tol=1e-9, max_iter=20000, anderson=5)
    assert plain.converged and mixed.converged
    assert mixed.iterations < plain.iterations / 2
    assert mixed.value == pytest.approx(plain.value, abs=1e-8)
    assert torch.allclose(mixed.f, plain.f, atol=1e-6)


def test_warm_state_after_a_change_of_weights_equals_a_cold_solve():
    x, y, a, b = _clustered(2, 60, 25)
    kernel = DenseKernel(torch.tensor(1.0 - x @ y.T), EPS)
    first = sinkhorn_kernel(kernel, a, b, tol=1e-10, max_iter=20000)
    a2 = a * torch.exp(torch.linspace(-1, 1, len(a), dtype=a.dtype))
    a2 /= a2.sum()
    warm = sinkhorn_kernel(kernel, a2, b, state=first.state, tol=1e-10, max_iter=20000)
    cold = sinkhorn_kernel(kernel, a2, b, tol=1e-10, max_iter=20000)
    assert warm.value == pytest.approx(cold.value, abs=1e-9)
    assert torch.allclose(warm.f - warm.f.mean(), cold.f - cold.f.mean(), atol=1e-7)
    assert warm.iterations < cold.iterations


def _learner(step_rule: str, eta: float, max_outer: int = 100):
    x, y_s, _, _ = problem(3, n=60, m=30, d=6)
    y_h = unit(np.random.default_rng(9), 20, 6)
    dense = lambda y: DenseKernel(torch.tensor(1.0 - x @ y.T), 0.1)  # noqa: E731
    return push_pull(dense(y_s), dense(y_h), torch.full((30,), 1 / 30, dtype=torch.float64),
                     torch.full((20,), 1 / 20, dtype=torch.float64), beta=1.0, tau=0.1, eta=eta, max_outer=max_outer,
                     tol=1e-8, inner_tol=1e-10, inner_max_iter=5000, adaptive=step_rule == "adaptive",
                     dtype=torch.float64)


def test_adaptive_step_is_monotone_and_reaches_the_fixed_step_optimum():
    fixed = _learner("fixed", eta=0.5)   # eta·tau = 0.05: slow but stable
    big = _learner("fixed", eta=30.0, max_outer=12)    # eta·tau = 3: overshoots
    adaptive = _learner("adaptive", eta=30.0)
    assert np.any(np.diff(big.objective) > 0)  # the fixed large step is not a descent method
    assert np.all(np.diff(adaptive.objective) <= 1e-12) and adaptive.rejected_steps > 0
    assert adaptive.objective[-1] <= fixed.objective[-1] + 1e-9
    assert adaptive.converged and adaptive.outer_iterations < fixed.outer_iterations * 0.7
