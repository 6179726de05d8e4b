"""MOSAIC figures across seeds: per-seed rates pooled over subsets, the t interval, the stratified McNemar test."""

import json

import pytest

from bench.mosaic._results import merge_results
from bench.mosaic._seeds import across_seeds, pooled_tests, seed_rates, seeds_table


def _row(seed, order, dsr, orr, n_pos=10, n_neg=10, method="mosaic", steps=100, active=("a",)):
    return {"config": "c", "method": method, "steps": steps, "order": order, "seed": seed, "active": list(active),
            "dsr": dsr, "or": orr, "degenerate": 0.0, "n_pos": n_pos, "n_neg": n_neg}


def test_rates_pool_subsets_by_count_then_average_seeds():
    rows = [_row(0, 1, 1.0, 0.0, n_pos=30, active=("a",)), _row(0, 1, 0.0, 0.5, n_pos=10, active=("b",)),
            _row(1, 1, 0.5, 0.5), _row(2, 1, 0.25, 0.5), _row(None, 1, 0.9, 0.9, method="base", steps=None)]
    (entry,) = seed_rates(rows)  # the untrained baseline has no seed: not a seed summary
    assert entry["seeds"] == [0, 1, 2]
    assert entry["dsr_per_seed"] == [75.0, 50.0, 25.0]  # seed 0: (30*1 + 10*0) / 40
    assert entry["or_per_seed"] == [25.0, 50.0, 50.0]
    assert entry["dsr_mean"] == 50.0 and entry["dsr_minus_or_mean"] == pytest.approx(8.33, abs=0.01)
    low, high = entry["dsr_mean_ci"]  # sd 25, t(0.975, 2) = 4.303: 50 -/+ 62.1
    assert low == pytest.approx(50 - 4.3027 * 25 / 3 ** 0.5, abs=0.01) and high == pytest.approx(100 - low, abs=0.01)


def test_one_seed_has_no_interval():
    (entry,) = seed_rates([_row(0, 2, 0.5, 0.1)])
    assert entry["dsr_mean_ci"] is None and "(one seed)" in seeds_table({"rates": [entry], "tests": []})


def test_pooled_test_sums_discordant_pairs_over_seeds():
    paired = [{"config": "c", "method": "mosaic", "steps": 100, "against": "base", "order": 1, "seed": s, "n": 20,
               "correct": c, "correct_against": 0.5, "b01": 2, "b10": b10} for s, c, b10 in ((0, 0.6, 4), (1, 0.7, 6))]
    (test,) = pooled_tests(paired)
    assert (test["b01"], test["b10"], test["n_pairs"], test["seeds"]) == (4, 10, 40, [0, 1])
    assert test["correct"] == pytest.approx(0.65)
    from scipy.stats import binomtest

    assert test["p_value"] == pytest.approx(binomtest(4, 14, 0.5).pvalue)
    # each seed alone is far from significant; the strata together are not the same test as either
    assert test["p_value"] < min(binomtest(2, 6).pvalue, binomtest(2, 8).pvalue)


def test_merge_writes_the_derived_section(tmp_path):
    path = tmp_path / "mosaic.json"
    merge_results(path, {"rows": [_row(0, 1, 0.5, 0.1), _row(1, 1, 0.7, 0.3)]})
    written = json.loads(path.read_text())
    assert written["across_seeds"] == across_seeds(written)
    assert written["across_seeds"]["rates"][0]["dsr_per_seed"] == [50.0, 70.0]
    merge_results(path, {"rows": [_row(1, 1, 0.9, 0.3)]})  # seed 1 rerun replaces its rows; the summary follows
    assert json.loads(path.read_text())["across_seeds"]["rates"][0]["dsr_per_seed"] == [50.0, 90.0]


def test_entries_without_rates_are_left_out():
    assert across_seeds({"rows": [{"config": "a", "method": "m", "seed": 0, "dsr": 0.1}],
                         "paired": [{"method": "m", "seed": 0}]}) == {"rates": [], "tests": []}
