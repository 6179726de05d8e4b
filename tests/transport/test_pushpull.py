import numpy as np
import pytest
import torch

from curate.errors import ConfigError
from tests.transport._fixtures import problem, unit
from transport._kernels import DenseKernel
from transport.pushpull import push_pull
from transport.sinkhorn import sinkhorn

EPS, BETA, TAU = 0.1, 0.7, 0.05


def _j(w, cost_s, cost_h, b_s, b_h):
    n = len(w)
    rs = sinkhorn(w, b_s, cost_s, EPS, tol=1e-13, max_iter=20000)
    rh = sinkhorn(w, b_h, cost_h, EPS, tol=1e-13, max_iter=20000)
    return rs.value - BETA * rh.value + TAU * float((w * np.log(n * w)).sum()), rs.f, rh.f


def test_gradient_equals_finite_differences():
    x, y_s, w, b_s = problem(0, n=12, m=9)
    y_h = unit(np.random.default_rng(5), 7, 8)
    cost_s, cost_h, b_h = 1 - x @ y_s.T, 1 - x @ y_h.T, np.full(7, 1 / 7)
    _, f_s, f_h = _j(w, cost_s, cost_h, b_s, b_h)
    grad = f_s - BETA * f_h + TAU * (np.log(len(w) * w) + 1)
    v = np.random.default_rng(1).normal(size=len(w))
    v -= v.mean()  # stay on the simplex
    h = 1e-5
    fd = (_j(w + h * v, cost_s, cost_h, b_s, b_h)[0] - _j(w - h * v, cost_s, cost_h, b_s, b_h)[0]) / (2 * h)
    assert fd == pytest.approx(float(grad @ v), rel=1e-5, abs=1e-9)




def test_push_pull_downweights_harmful_and_decreases_objective():
    rng = np.random.default_rng(0)
    centers = unit(rng, 6, 16)
    def draw(k, clusters):
        x = centers[rng.choice(clusters, k)] + 0.2 * rng.normal(size=(k, 16))
        return torch.tensor(x / np.linalg.norm(x, axis=1, keepdims=True))
    corpus = torch.cat([draw(190, [0, 1, 2, 3]), draw(10, [4, 5])])
    safe, harm = draw(60, [0, 1, 2, 3]), draw(40, [4, 5])
    res = push_pull(DenseKernel(1 - corpus @ safe.T, EPS), DenseKernel(1 - corpus @ harm.T, EPS),
                    torch.full((60,), 1 / 60.0, dtype=torch.float64), torch.full((40,), 1 / 40.0, dtype=torch.float64),
                    beta=0.5, tau=0.1, eta=2.0, max_outer=40, dtype=torch.float64)
    assert res.weights.mean() == pytest.approx(1.0) and (res.weights > 0).all()
    assert res.weights[190:].max() < 0.2 * np.median(res.weights[:190])
    assert res.objective[-1] < res.objective[0]
    again = push_pull(DenseKernel(1 - corpus @ safe.T, EPS), DenseKernel(1 - corpus @ harm.T, EPS),
                      torch.full((60,), 1 / 60.0, dtype=torch.float64), torch.full((40,), 1 / 40.0, dtype=torch.float64),
                      beta=0.5, tau=0.1, eta=2.0, max_outer=40, dtype=torch.float64)
    assert np.array_equal(res.weights, again.weights)


def test_needs_a_problem_and_valid_steps():
    with pytest.raises(ConfigError, match="at least one"):
        push_pull(None, None, None, None)
    k = DenseKernel(torch.zeros(3, 2), EPS)
    with pytest.raises(ConfigError, match="eta > 0"):
        push_pull(k, None, torch.full((2,), 0.5), None, eta=0.0)
