import warnings

import numpy as np
import pytest
import torch

from curate.errors import ConfigError, InputError
from tests.conftest import requires_cuda
from tests.transport._fixtures import problem, unit
from transport._kernels import DenseKernel
from transport.pushpull import PushPullWarning, push_pull
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
                      torch.full((60,), 1 / 60.0, dtype=torch.float64),
                      torch.full((40,), 1 / 40.0, dtype=torch.float64),
                      beta=0.5, tau=0.1, eta=2.0, max_outer=40, dtype=torch.float64)
    assert np.array_equal(res.weights, again.weights)


def test_needs_a_problem_and_valid_steps():
    with pytest.raises(ConfigError, match="at least one"):
        push_pull(None, None, None, None)
    k = DenseKernel(torch.zeros(3, 2), EPS)
    with pytest.raises(ConfigError, match="eta > 0"):
        push_pull(k, None, torch.full((2,), 0.5), None, eta=0.0)


def _kernels(device: str = "cpu", seed: int = 2):
    rng = np.random.default_rng(seed)
    x, y_s, y_h = unit(rng, 30), unit(rng, 12), unit(rng, 9)
    cost = lambda y: torch.tensor(1.0 - x @ y.T, device=device)  # noqa: E731
    return DenseKernel(cost(y_s), EPS), DenseKernel(cost(y_h), EPS)


def _learn(b_safe, b_harm, device: str = "cpu", **options):
    pull, push = _kernels(device)
    settings = {"beta": BETA, "tau": 0.5, "eta": 2.0, "max_outer": 40, "tol": 1e-6, "inner_tol": 1e-7,
                "inner_max_iter": 500, "dtype": torch.float64, "device": device} | options
    return push_pull(pull, push, b_safe, b_harm, **settings)


def test_numpy_masses_give_numpy_results_and_torch_masses_give_tensors_with_the_same_values():
    b_s, b_h = np.full(12, 1 / 12), np.full(9, 1 / 9)
    as_numpy = _learn(b_s, b_h)
    as_torch = _learn(torch.tensor(b_s), torch.tensor(b_h))
    as_float32 = _learn(torch.tensor(b_s, dtype=torch.float32), torch.tensor(b_h, dtype=torch.float32), max_outer=2,
                        warn=False)
    for name in ("weights", "pull_potential", "push_potential"):
        mine, theirs, small = getattr(as_numpy, name), getattr(as_torch, name), getattr(as_float32, name)
        assert isinstance(mine, np.ndarray) and mine.dtype == np.float64 and mine.shape == (30,)
        assert isinstance(theirs, torch.Tensor) and theirs.dtype == torch.float64 and theirs.device.type == "cpu"
        assert isinstance(small, torch.Tensor) and small.dtype == torch.float32
        np.testing.assert_array_equal(theirs.numpy(), mine)  # same iterations, only the wrapping differs
    assert as_numpy.converged and as_numpy.weights.mean() == pytest.approx(1.0)


def test_push_only_takes_its_array_type_from_the_harmful_masses():
    pull, push = _kernels()
    res = push_pull(None, push, None, torch.full((9,), 1 / 9, dtype=torch.float64), tau=0.5, dtype=torch.float64)
    assert isinstance(res.weights, torch.Tensor) and res.weights.dtype == torch.float64
    assert torch.count_nonzero(res.pull_potential) == 0 and float(res.weights.mean()) == pytest.approx(1.0)


@requires_cuda
def test_cuda_masses_give_cuda_results():
    b_s, b_h = torch.full((12,), 1 / 12, device="cuda"), torch.full((9,), 1 / 9, device="cuda")
    res = _learn(b_s, b_h, device="cuda")
    cpu = _learn(b_s.double().cpu().numpy(), b_h.double().cpu().numpy())
    assert res.weights.is_cuda and res.push_potential.is_cuda and res.weights.dtype == torch.float32
    np.testing.assert_allclose(res.weights.cpu().numpy(), cpu.weights, rtol=1e-4, atol=1e-5)


def test_warns_when_max_outer_runs_out_and_names_the_reached_change():
    with pytest.warns(PushPullWarning, match=r"max_outer=3 outer iterations \(relative objective change "
                                             r"[0-9.e+-]+ > tol=1e-12\); raise max_outer") as caught:
        res = _learn(np.full(12, 1 / 12), np.full(9, 1 / 9), max_outer=3, tol=1e-12)
    assert not res.converged and res.outer_iterations == 3
    change = float(str(caught[0].message).split("change ")[1].split(" >")[0])
    expected = abs(res.objective[-1] - res.objective[-2]) / abs(res.objective[-1])
    assert change == pytest.approx(expected, rel=1e-2)


def test_no_warning_when_converged_or_when_told_not_to():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PushPullWarning)
        assert _learn(np.full(12, 1 / 12), np.full(9, 1 / 9)).converged
        assert not _learn(np.full(12, 1 / 12), np.full(9, 1 / 9), max_outer=2, tol=1e-12, warn=False).converged


def test_masses_must_match_their_kernel():
    pull, push = _kernels()
    with pytest.raises(ConfigError, match="no anchor masses; pass b_harm"):
        push_pull(pull, push, np.full(12, 1 / 12), None)
    with pytest.raises(InputError, match=r"b_safe has shape \(11,\) but its kernel has m=12"):
        push_pull(pull, push, np.full(11, 1 / 11), np.full(9, 1 / 9))
