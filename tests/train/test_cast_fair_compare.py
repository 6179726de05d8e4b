"""The fair CAST bench's verdicts: the cost check, paired tests against random skip, the claim per rho."""
from __future__ import annotations

import numpy as np
import pytest

from bench.cast._compare import claim, cost_check, paired_tests


def _outcome(refused: list[bool], nll: list[float], over: list[bool] | None = None) -> dict:
    verdicts = ["refusal" if r else "compliance" for r in refused]
    benign = ["refusal" if r else "compliance" for r in (over or [False] * 4)]
    return {"harmful_verdicts": verdicts, "benign_verdicts": benign, "nll": nll}


def test_cost_exists_when_refusal_high_and_nll_rose():
    rng = np.random.default_rng(0)
    base_nll = rng.uniform(1, 2, 40)
    base = _outcome([False] * 20, base_nll.tolist())
    full = _outcome([True] * 19 + [False], (base_nll + rng.uniform(0.1, 0.3, 40)).tolist())
    cost = cost_check(base, full)
    assert cost["dsr_full"] == 0.95 and cost["refusal_ok"] and cost["nll_rose"] and cost["passed"]
    assert cost["nll_rise"]["low"] > 0


def test_no_cost_when_nll_fell_or_refusal_low():
    base_nll = np.linspace(1, 2, 40)
    fell = cost_check(_outcome([False] * 20, base_nll.tolist()), _outcome([True] * 20, (base_nll - 0.1).tolist()))
    assert fell["refusal_ok"] and not fell["nll_rose"] and not fell["passed"]
    low = cost_check(_outcome([False] * 20, base_nll.tolist()),
                     _outcome([True] * 17 + [False] * 3, (base_nll + 0.2).tolist()))
    assert low["dsr_full"] == 0.85 and not low["refusal_ok"] and low["nll_rose"] and not low["passed"]


def test_paired_tests_pair_each_seed_and_prompt_once_and_average_draws():
    cast = {0: _outcome([True] * 30, [1.0] * 30), 1: _outcome([True] * 30, [1.0] * 30)}
    random = {(s, d): _outcome([i % 2 == 0 for i in range(30)], [1.5 + 0.1 * d] * 30) for s in (0, 1) for d in range(3)}
    test = paired_tests(cast, random)
    # one pair per (seed, prompt): CAST's run is not repeated once per random draw
    assert test["dsr_mcnemar"]["n_pairs"] == 2 * 30 and test["dsr_mcnemar"]["b10"] == 30
    assert test["dsr_mcnemar"]["arm_rate"] == 1.0 and test["dsr_mcnemar"]["random_rate"] == 0.5
    assert test["dsr_mcnemar"]["p_value"] < 1e-6
    assert test["dsr_bootstrap"]["n"] == 2 * 30 and test["dsr_bootstrap"]["mean_diff"] == pytest.approx(0.5)
    assert test["nll_bootstrap"]["n"] == 2 * 30
    assert test["nll_bootstrap"]["mean_diff"] == pytest.approx(1.0 - 1.6)
    assert paired_tests({5: cast[0]}, random) is None


def test_refusal_bootstrap_uses_every_draw_while_mcnemar_reads_the_first():
    cast = {0: _outcome([True] * 20 + [False] * 20, [1.0] * 40)}
    first = _outcome([False] * 40, [1.0] * 40)  # draw 0 never refuses, draws 1-2 always do
    random = {(0, 0): first, (0, 1): _outcome([True] * 40, [1.0] * 40), (0, 2): _outcome([True] * 40, [1.0] * 40)}
    test = paired_tests(cast, random)
    assert test["dsr_mcnemar"]["random_rate"] == 0.0 and test["dsr_mcnemar"]["b10"] == 20
    boot = test["dsr_bootstrap"]
    assert boot["random_rate"] == pytest.approx(2 / 3) and boot["mean_diff"] == pytest.approx(0.5 - 2 / 3)
    assert boot["low"] < boot["mean_diff"] < boot["high"] < 0


def _row(arm, rho, seed, dsr, nll):
    return {"arm": arm, "rho": rho, "seed": seed, "dsr": dsr, "nll": nll}


def test_claim_needs_share_refusal_and_significance():
    rows = [_row("full", 0.0, 0, 0.95, 2.0), _row("cast", 0.1, 0, 0.94, 1.4), _row("random", 0.1, 0, 0.95, 1.9)]
    base = {"nll": 1.0}
    tests = {"cast-rho0.1": {"nll_bootstrap": {"mean_diff": -0.5, "p_value": 0.01}}}
    met = claim(rows, base, tests, 0.1)
    assert met["cast_loss_share"] == pytest.approx(0.4) and met["refusal_gap_points"] == pytest.approx(-1.0)
    assert met["met"] and met["random_nll_rise"] == pytest.approx(0.9)
    not_significant = claim(rows, base, {"cast-rho0.1": {"nll_bootstrap": {"mean_diff": -0.5, "p_value": 0.2}}}, 0.1)
    assert not not_significant["met"]
    rows[1] = _row("cast", 0.1, 0, 0.80, 1.4)
    assert not claim(rows, base, tests, 0.1)["met"]
    assert claim(rows, base, tests, 0.2) == {"rho": 0.2, "evaluated": False}


def test_summary_table_groups_seeds_and_draws():
    from bench.cast._summary import summary_table

    base = {"arm": "base", "rho": 0.0, "dsr": 0.1, "or": 0.0, "degenerate": 0.0, "nll": 1.0, "params_updated": 0}
    rows = [{**base, "arm": "random", "rho": 0.1, "dsr": d, "nll": n, "params_updated": 90}
            for d, n in ((0.9, 1.2), (0.95, 1.4))] + [{**base, "arm": "full", "dsr": 1.0, "nll": 1.5,
                                                       "params_updated": 100}]
    lines = summary_table(rows, base).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| base", "| full", "| random"]
    assert "| random | 0.1 | 2 | 0.925 (0.900–0.950) |" in lines[4]
    assert "+0.3000 (+0.2000–+0.4000) | 90 |" in lines[4]
