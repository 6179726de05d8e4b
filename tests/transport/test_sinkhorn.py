import numpy as np
import ot
import pytest
import torch

from curate.errors import ConfigError
from tests.transport._fixtures import problem
from transport.sinkhorn import SinkhornWarning, plan_from_potentials, sinkhorn

EPS = 0.1


def _pot(a, b, cost):
    plan, log = ot.sinkhorn(a, b, cost, EPS, method="sinkhorn_log", log=True, stopThr=1e-14, numItermax=20000)
    return plan, log


def test_value_and_potentials_match_pot():
    x, y, a, b = problem()
    cost = 1.0 - x @ y.T
    res = sinkhorn(a, b, cost, EPS, tol=1e-12, max_iter=5000)
    plan, log = _pot(a, b, cost)
    pot_value = (plan * cost).sum() + EPS * (plan * np.log(plan / np.outer(a, b))).sum()
    assert res.converged and res.value == pytest.approx(pot_value, abs=1e-8)
    # POT: plan = exp(log_u + log_v − C/eps); ours: plan = a b exp((f + g − C)/eps) → equal up to a constant shift
    f_pot, g_pot = EPS * log["log_u"] - EPS * np.log(a), EPS * log["log_v"] - EPS * np.log(b)
    assert np.ptp(f_pot - res.f) < 1e-8 and np.ptp(g_pot - res.g) < 1e-8
    assert np.abs(plan_from_potentials(a, b, cost, res.f, res.g, EPS) - plan).max() < 1e-10
    # sinkhorn2 reports the linear cost <P, C> of the same plan
    assert float(ot.sinkhorn2(a, b, cost, EPS, method="sinkhorn_log", stopThr=1e-14, numItermax=20000)) == \
        pytest.approx((plan * cost).sum(), abs=1e-8)


def test_marginals_hold():
    x, y, a, b = problem(1)
    cost = 1.0 - x @ y.T
    res = sinkhorn(a, b, cost, EPS, tol=1e-10, max_iter=5000)
    plan = plan_from_potentials(a, b, cost, res.f, res.g, EPS)
    assert np.abs(plan.sum(1) - a).max() < 1e-12 and np.abs(plan.sum(0) - b).sum() < 1e-9


def test_semi_relaxed_matches_pot_unbalanced():
    x, y, a, b = problem(2)
    cost = 1.0 - x @ y.T
    rho = 0.5
    res = sinkhorn(a, b, cost, EPS, rho=rho, tol=1e-12, max_iter=5000)
    plan = plan_from_potentials(a, b, cost, res.f, res.g, EPS)
    ref = ot.unbalanced.sinkhorn_unbalanced(a, b, cost, EPS, reg_m=(float("inf"), rho), method="sinkhorn",
                                            reg_type="kl", c=np.outer(a, b), stopThr=1e-14, numItermax=20000)
    assert np.abs(plan - ref).max() < 1e-9
    primal = (plan * cost).sum() + EPS * (plan * np.log(plan / np.outer(a, b))).sum()
    q = plan.sum(0)
    primal += rho * (q * np.log(q / b) - q + b).sum()
    assert res.value == pytest.approx(primal, abs=1e-8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_keeps_dtype_device_and_warm_start_helps(dtype):
    x, y, a, b = problem(3)
    cost = torch.tensor(1.0 - x @ y.T, dtype=dtype)
    at, bt = torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype)
    cold = sinkhorn(at, bt, cost, EPS, tol=1e-5)
    assert cold.f.dtype == dtype and cold.g.device == cost.device and isinstance(cold.f, torch.Tensor)
    warm = sinkhorn(at, bt, cost, EPS, tol=1e-5, g0=cold.g)
    assert warm.iterations < cold.iterations and warm.value == pytest.approx(cold.value, rel=1e-4)


def test_non_convergence_warns_with_error_and_eps():
    x, y, a, b = problem(4)
    with pytest.warns(SinkhornWarning, match=r"marginal error .* --eps 0\.02"):
        res = sinkhorn(a, b, 1.0 - x @ y.T, 0.01, max_iter=3, tol=1e-12)
    assert not res.converged and res.iterations == 3


def test_bad_eps():
    x, y, a, b = problem()
    with pytest.raises(ConfigError, match="eps must be > 0"):
        sinkhorn(a, b, 1.0 - x @ y.T, 0.0)
