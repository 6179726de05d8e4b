"""Regression: at eps 0.01–0.02 on anisotropic SmolLM2 features the float32 scaling-domain Sinkhorn overflowed
(an Anderson jump of more than eps·88 in g made v = inf; the rejected-step path rescaled without any finiteness
check and the NaN marginal error read as 0, i.e. converged), and mirror descent accepted the NaN objective, so
solve_weights returned all-NaN weights with no warning. Nothing non-finite may come back silently now."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from curate.errors import ConfigError
from tests.transport._fixtures import problem
from transport._kernels import DenseKernel, DenseScaling
from transport._solve import check_finite_result
from transport.config import SOTConfig
from transport.pushpull import PushPullResult, push_pull
from transport.sinkhorn import _anchor_error, _trust, sinkhorn_kernel


def _dense(eps: float = 0.05, dtype=torch.float32):
    x, y, a, b = problem(n=40, m=12)
    cost = torch.from_numpy(1.0 - x @ y.T).to(dtype).clamp(0.0, 2.0)
    return DenseKernel(cost, eps), torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)


class _PoisonedScaling(DenseScaling):
    """K̃ whose products overflow from the `after`-th call on: what a too-large scaling v does in float32."""

    calls = 0

    def __init__(self, *args, after: int):
        super().__init__(*args)
        self.after = after

    def row(self, v):
        _PoisonedScaling.calls += 1
        out = super().row(v)
        return out * math.inf if _PoisonedScaling.calls > self.after else out


class _PoisonedKernel(DenseKernel):
    def __init__(self, cost, eps, after):
        super().__init__(cost, eps)
        self.after = after

    def absorb(self, f, g):
        return _PoisonedScaling(self.cost.to(f.dtype), f, g, self.eps, after=self.after)


def test_a_nan_marginal_gap_is_an_infinite_error_not_a_zero_one():
    b, g = torch.full((3,), 1 / 3), torch.zeros(3)
    q = torch.tensor([1 / 3, math.nan, 1 / 3])
    assert _anchor_error(q, g, b, None, torch.zeros(3, dtype=torch.bool)) == math.inf
    assert _anchor_error(q, g, b, None, torch.tensor([False, True, False])) == pytest.approx(0.0)  # unreached


def test_anderson_points_stay_within_the_trust_radius_of_the_plain_image():
    gx = torch.zeros(4)
    mixed = torch.tensor([3.0, -1.0, 0.5, 0.0])
    pulled = _trust(mixed, gx, 0.2)
    assert float((pulled - gx).abs().max()) == pytest.approx(0.2)
    assert torch.allclose(pulled / 0.2, mixed / 3.0)  # same direction, shorter
    assert _trust(gx + 0.1, gx, 0.2) is not gx and torch.equal(_trust(gx + 0.1, gx, 0.2), gx + 0.1)


def test_an_overflowing_scaling_domain_solve_falls_back_to_the_log_domain():
    kernel, a, b = _dense()
    reference = sinkhorn_kernel(kernel, a, b, max_iter=2000, tol=1e-6, scaling=False, warn=False)
    for after in (0, 3):  # overflow at once, or mid-solve
        _PoisonedScaling.calls = 0
        poisoned = _PoisonedKernel(kernel.cost, kernel.eps, after)
        res = sinkhorn_kernel(poisoned, a, b, max_iter=2000, tol=1e-6, anderson=5, warn=False)
        assert torch.isfinite(res.f).all() and torch.isfinite(res.g).all() and math.isfinite(res.value)
        assert res.converged and res.value == pytest.approx(reference.value, abs=1e-5)
        assert torch.allclose(res.g - res.g.mean(), reference.g - reference.g.mean(), atol=1e-4)


def test_a_poisoned_warm_start_is_dropped():
    kernel, a, b = _dense()
    res = sinkhorn_kernel(kernel, a, b, g0=torch.full_like(b, math.nan), max_iter=2000, tol=1e-6, warn=False)
    assert res.converged and torch.isfinite(res.g).all()


def test_a_non_finite_log_domain_result_raises_naming_eps():
    kernel, a, b = _dense()
    with pytest.raises(ConfigError, match="eps=0.05"):
        sinkhorn_kernel(kernel, a, b * math.nan, max_iter=20, tol=1e-6, scaling=False, warn=False)


def test_small_eps_pull_only_on_anisotropic_rows_gives_finite_weights():
    """Unit rows around one shared direction (cosine costs in a narrow band, as for last-token LM states)."""
    rng = np.random.default_rng(0)
    common = rng.standard_normal(64)

    def rows(n, spread):
        x = common + spread * rng.standard_normal((n, 64))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    x, safe = rows(400, 0.6), rows(30, 0.6)
    cost = torch.from_numpy(1.0 - x @ safe.T).float().clamp(0.0, 2.0)
    res = push_pull(DenseKernel(cost, 0.01), None, np.full(30, 1 / 30), None, tau=0.05, max_outer=25,
                    inner_max_iter=200, inner_tol=1e-4, warn=False)
    assert np.isfinite(res.weights).all() and res.weights.mean() == pytest.approx(1.0, abs=1e-4)
    assert np.isfinite(res.pull_potential).all()


def test_push_pull_refuses_a_nan_objective_instead_of_accepting_it():
    kernel, _, b = _dense()
    nan_kernel = DenseKernel(kernel.cost * math.nan, kernel.eps)
    with pytest.raises(ConfigError, match="eps"):
        push_pull(nan_kernel, None, b.numpy(), None, tau=0.05, max_outer=3, warn=False)


def test_solve_weights_never_returns_non_finite_weights(tmp_path: Path):
    config = SOTConfig(out=tmp_path / "w.parquet", method="pull-only", progress=False, eps=0.02, tau=0.05)
    weights = np.ones(5)
    weights[2] = np.nan
    with pytest.raises(ConfigError, match="--eps 0.02 --tau 0.05"):
        check_finite_result(PushPullResult(weights, np.zeros(5), np.zeros(5), [], True, 1), config)
    good = PushPullResult(np.ones(5), np.zeros(5), np.zeros(5), [], True, 1)
    assert check_finite_result(good, config) is good


def test_the_reported_smollm2_pull_problem_gives_finite_weights():
    """Cosine costs [200, 62] (float16) of 200 seeded corpus rows to the 62 safe anchors of the reported run
    (SmolLM2 last-token states, unit rows); the solver before this fix returned all-NaN weights here at eps 0.02."""
    cost = np.load(Path(__file__).with_name("smollm2_pull_cost.npz"))["cost"].astype(np.float32)
    res = push_pull(DenseKernel(torch.from_numpy(cost), 0.02), None, np.full(62, 1 / 62), None, tau=0.05,
                    max_outer=60, inner_max_iter=200, inner_tol=1e-4, warn=False)
    assert np.isfinite(res.weights).all() and np.isfinite(res.pull_potential).all()
    assert res.weights.mean() == pytest.approx(1.0, abs=1e-4)
    assert all(np.isfinite(res.objective)) and res.objective[-1] < res.objective[0]
