"""bench.sot._pot_peers on a tiny problem: our run records every iterate push_pull evaluates (the 20k run of
2026-12-02 crashed because the instrumentation recorded none), its J values are the ones push_pull returns, and
POT's default method on the same fixed steps lands on the same objective."""

import numpy as np
import pytest

pytest.importorskip("ot")


def _problem(**overrides):
    from bench.sot._pot_peers import Problem
    from bench.sot.vs_pot import synthetic

    x, safe, harm = synthetic(300, 40)
    settings = dict(eps=0.05, beta=1.0, tau=0.1, eta=0.5, adaptive=False, max_outer=6, tol=0.0,
                    inner_max_iter=2000, inner_tol=1e-6, anderson=5)
    settings.update(overrides)
    return Problem(x, safe, harm, **settings)


def test_ours_records_each_iterate_and_matches_push_pull():
    import torch

    from bench.sot._pot_peers import run_ours
    from transport._kernels import DenseKernel
    from transport.cost import cosine_cost
    from transport.pushpull import push_pull

    p = _problem()
    run = run_ours(p)
    assert len(run.points) == p.max_outer
    assert all(pt.accepted for pt in run.points)
    assert run.final.weights.shape == (len(p.x),)
    xt = torch.from_numpy(p.x.astype(np.float32))
    kernels = [DenseKernel(cosine_cost(xt, torch.from_numpy(y.astype(np.float32))), p.eps) for y in (p.safe, p.harm)]
    plain = push_pull(kernels[0], kernels[1], np.full(len(p.safe), 1 / len(p.safe)),
                      np.full(len(p.harm), 1 / len(p.harm)), beta=p.beta, tau=p.tau, eta=p.eta,
                      max_outer=p.max_outer, tol=p.tol, inner_max_iter=p.inner_max_iter, inner_tol=p.inner_tol,
                      adaptive=False, anderson=p.anderson, dtype=torch.float32, warn=False)
    assert [pt.value for pt in run.points] == pytest.approx(plain.objective, rel=1e-6)
    np.testing.assert_allclose(run.final.weights * len(p.x), plain.weights, rtol=1e-5, atol=1e-6)


def test_adaptive_run_marks_rejected_steps_and_pot_agrees():
    from bench.sot._pot_peers import PEERS, run_ours, run_pot

    p = _problem(adaptive=True, max_outer=12)
    ours = run_ours(p)
    assert len(ours.points) >= 2
    assert ours.final.accepted
    fixed = _problem()
    peer = run_pot(PEERS["pot-sinkhorn-numpy-float64"], fixed)
    mine = run_ours(fixed)
    assert peer.final.value == pytest.approx(mine.final.value, rel=1e-3, abs=1e-4)
