"""push_pull's on_iterate callback: it sees every evaluated point in order (the accepted ones are the objective
trace, the rejected ones are counted as rejected_steps), it leaves the iterations bit-identical, and the sharded
solver refuses it instead of ignoring it."""

import numpy as np
import pytest
import torch

from curate.errors import ConfigError
from tests.transport._fixtures import unit
from transport._kernels import DenseKernel
from transport.pushpull import PushPullIterate, push_pull


def _solve(on_iterate=None, **options):
    rng = np.random.default_rng(3)
    x, safe, harm = (torch.tensor(unit(rng, k, 8)) for k in (80, 20, 15))
    settings = dict(beta=0.7, tau=0.05, eta=10.0, max_outer=30, dtype=torch.float64, warn=False)
    settings.update(options)
    return push_pull(DenseKernel(1 - x @ safe.T, 0.1), DenseKernel(1 - x @ harm.T, 0.1), np.full(20, 1 / 20),
                     np.full(15, 1 / 15), on_iterate=on_iterate, **settings)


def test_the_hook_sees_every_evaluated_point_and_changes_nothing():
    seen, snapshots = [], []

    def record(point: PushPullIterate) -> None:
        seen.append(point)
        snapshots.append(point.log_weights.clone())

    hooked, plain = _solve(record), _solve()
    assert plain.rejected_steps > 0  # the case has rejected steps, so the flag is exercised
    assert len(seen) == hooked.outer_iterations
    assert [p.objective for p in seen if p.accepted] == hooked.objective  # the same floats, not approximately
    assert sum(not p.accepted for p in seen) == hooked.rejected_steps
    # the tensors handed out are not overwritten by later steps
    assert all(torch.equal(p.log_weights, s) for p, s in zip(seen, snapshots))
    last = [p for p in seen if p.accepted][-1]
    assert np.array_equal((torch.exp(last.log_weights) * 80).numpy(), hooked.weights)
    assert hooked.objective == plain.objective and hooked.inner_iterations == plain.inner_iterations
    for name in ("weights", "pull_potential", "push_potential"):
        assert np.array_equal(getattr(hooked, name), getattr(plain, name)), name


def test_a_fixed_step_run_accepts_every_point():
    seen = []
    res = _solve(seen.append, adaptive=False, eta=0.5, max_outer=8)
    assert [p.accepted for p in seen] == [True] * res.outer_iterations
    assert [p.objective for p in seen] == res.objective
    assert all(p.log_weights.shape == (80,) and p.log_weights.dtype == torch.float64 for p in seen)
    assert all(float(torch.logsumexp(p.log_weights, 0)) == pytest.approx(0.0, abs=1e-12) for p in seen)


def test_sharded_push_pull_refuses_the_hook():
    from transport.dask_pushpull import _learner_options

    with pytest.raises(ConfigError, match="on_iterate"):
        _learner_options({"on_iterate": print})
    assert "on_iterate" not in _learner_options({})
