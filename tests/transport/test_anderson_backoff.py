"""The Anderson back-off (issue 15): plain steps after a rejection, doubling while rejections follow each other."""

import math

import pytest
import torch

from tests.transport.test_acceleration import EPS, _clustered
from transport._kernels import DenseKernel
from transport.sinkhorn import _Anderson, sinkhorn_kernel


@pytest.fixture
def counted():
    """Every solve's mixing counts, with the shipped MAX_PAUSE restored afterwards."""
    shipped = _Anderson.MAX_PAUSE
    _Anderson.log = []
    yield _Anderson.log
    _Anderson.MAX_PAUSE, _Anderson.log = shipped, None


def _solve(max_pause: int, log: list, rho=1.0, tol=1e-9):
    x, y, a, b = _clustered(3, 300, 80)
    kernel = DenseKernel(torch.tensor(1.0 - x @ y.T), EPS)
    _Anderson.MAX_PAUSE = max_pause
    log.clear()
    out = sinkhorn_kernel(kernel, a, b, rho=rho, tol=tol, max_iter=20000, anderson=5)
    return out, dict(log[0])


def test_back_off_same_answer_as_mixing_at_once_and_as_plain(counted):
    x, y, a, b = _clustered(3, 300, 80)
    plain = sinkhorn_kernel(DenseKernel(torch.tensor(1.0 - x @ y.T), EPS), a, b, rho=1.0, tol=1e-9, max_iter=20000)
    now, now_counts = _solve(0, counted)
    off, off_counts = _solve(16, counted)
    assert plain.converged and now.converged and off.converged
    assert off.value == pytest.approx(plain.value, abs=1e-8) and now.value == pytest.approx(plain.value, abs=1e-8)
    assert torch.allclose(off.f, plain.f, atol=1e-6)
    assert now_counts["paused"] == 0  # MAX_PAUSE = 0: the earlier rule, never a plain step on purpose
    if now_counts["rejected"] > 0:
        assert off_counts["paused"] > 0
    assert off.iterations < plain.iterations  # still accelerated


def test_pause_doubles_while_rejections_follow_and_resets_after_an_acceptance():
    mixer = _Anderson(5)
    mixer.MAX_PAUSE = 8
    g = torch.zeros(3)
    pauses = []
    for _ in range(5):
        mixer.fallback, mixer.error_before = g, 1.0
        assert mixer.rejects(2.0)
        pauses.append(mixer.pause_left)
        while mixer.pause_left:
            assert mixer.mix(g, g + 1, 1.0) is not None and mixer.fallback is None  # plain steps, no fallback
        mixer.reset()
    assert pauses == [1, 2, 4, 8, 8]
    mixer.fallback, mixer.error_before = g, 1.0
    assert not mixer.rejects(0.5)  # accepted: the next rejection pauses one step again
    mixer.fallback, mixer.error_before = g, 1.0
    assert mixer.rejects(math.inf) and mixer.pause_left == 1
    assert mixer.counts == {"accepted": 1, "rejected": 6, "paused": 23}


def test_plain_steps_of_a_pause_fill_the_memory():
    mixer = _Anderson(3)
    mixer.pause_left = 4
    for i in range(4):
        x = torch.full((2,), float(i))
        assert torch.equal(mixer.mix(x, x + 1, 1.0), x + 1)
    assert len(mixer.xs) == 4  # memory + 1 points kept: mixing resumes with a full history


def test_the_bench_runs_every_variant_and_restores_the_shipped_rule(tmp_path):
    from bench.sot.anderson_backoff import main

    shipped = _Anderson.MAX_PAUSE
    out = main(["--n", "300", "--m", "40", "--outer", "2", "--threads", "1", "--out", str(tmp_path / "b.json")])
    assert [r["variant"] for r in out["rows"]] == ["plain", "mix-now", "back-off"]
    plain, now, off = out["rows"]
    assert plain["accepted"] == plain["rejected"] == 0 and now["paused"] == 0
    assert off["seconds_ratio_to_back_off"] == 1.0 and all(math.isfinite(r["objective"]) for r in out["rows"])
    assert _Anderson.MAX_PAUSE == shipped and _Anderson.log is None and (tmp_path / "b.json").exists()
