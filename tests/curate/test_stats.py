"""Interval arithmetic and paired tests against textbook values and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curate.errors import InputError
from curate.evaluation.metrics import category_rates, nll_summary, set_summary
from curate.evaluation.stats import mcnemar, paired_bootstrap, rate, wilson_interval

# Newcombe (1998), Stat. Med. 17:857, table I, method 3 (Wilson score without continuity correction).
NEWCOMBE = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)),
            ((0, 20), (0.0, 0.1611)), ((1, 29), (0.0061, 0.1718))]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE)
def test_wilson_matches_textbook(counts, expected):
    assert wilson_interval(*counts) == pytest.approx(expected, abs=5e-5)


def test_wilson_matches_statsmodels():
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for k, n in [(0, 1), (1, 1), (0, 7), (7, 7), (3, 10), (270, 318), (1, 1000)]:
        for confidence in (0.9, 0.95, 0.99):
            ours = wilson_interval(k, n, confidence)
            ref = proportion.proportion_confint(k, n, alpha=1 - confidence, method="wilson")
            assert ours == pytest.approx(ref, abs=1e-12), (k, n, confidence)


def test_wilson_edges():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and 0 < high < 0.35
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and 0.65 < low < 1
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    r = rate(0, 0)
    assert r["k"] == 0 and r["n"] == 0 and math.isnan(r["rate"]) and math.isnan(r["low"])
    assert rate(270, 318) == pytest.approx({"rate": 270 / 318, "low": 0.8056, "high": 0.8842, "k": 270, "n": 318},
                                           abs=5e-5)


def test_wilson_bad_input():
    with pytest.raises(InputError, match="k=5 of n=3"):
        wilson_interval(5, 3)
    with pytest.raises(InputError, match="k=-1"):
        rate(-1, 3)
    with pytest.raises(InputError, match="confidence 95"):
        wilson_interval(1, 3, confidence=95)


def _pairs(b01: int, b10: int, both: int = 5, neither: int = 7) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([False] * b01 + [True] * b10 + [True] * both + [False] * neither)
    b = np.array([True] * b01 + [False] * b10 + [True] * both + [False] * neither)
    return a, b


def test_mcnemar_textbook():
    # exact: 1 vs 6 discordant pairs, p = 2 * P[Bin(7, 1/2) <= 1] = 2 * 8/128
    r = mcnemar(*_pairs(1, 6))
    assert (r["b01"], r["b10"], r["method"]) == (1, 6, "exact binomial")
    assert r["statistic"] == 1.0 and r["p_value"] == pytest.approx(0.125)
    # chi-square: Agresti's approval ratings, 150 vs 86 switches: (|150 - 86| - 1)^2 / 236
    r = mcnemar(*_pairs(150, 86))
    assert r["method"] == "chi-square, continuity-corrected"
    assert r["statistic"] == pytest.approx(63 ** 2 / 236) and r["p_value"] == pytest.approx(4.1146e-5, rel=1e-4)


def test_mcnemar_matches_statsmodels():
    tables = pytest.importorskip("statsmodels.stats.contingency_tables")
    for b01, b10 in [(0, 0), (0, 3), (10, 3), (12, 12), (24, 0), (20, 5), (30, 12), (100, 99)]:
        r = mcnemar(*_pairs(b01, b10))
        ref = tables.mcnemar([[7, b01], [b10, 5]], exact=b01 + b10 < 25, correction=True)
        assert r["method"] == ("exact binomial" if b01 + b10 < 25 else "chi-square, continuity-corrected")
        assert r["statistic"] == pytest.approx(ref.statistic) and r["p_value"] == pytest.approx(ref.pvalue)


def test_mcnemar_bad_input():
    with pytest.raises(InputError, match="same length"):
        mcnemar([True, False], [True])


def test_bootstrap_equal_arms():
    x = np.random.default_rng(1).normal(2.0, 0.5, size=200)
    y = x[np.random.default_rng(2).permutation(200)]  # same values, other pairing: mean difference exactly 0
    r = paired_bootstrap(x, y, n_boot=2000)
    assert r["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert r["low"] < 0 < r["high"] and r["p_value"] > 0.5
    assert r["relative_low_pct"] < 0 < r["relative_high_pct"]


def test_bootstrap_shifted_arms():
    rng = np.random.default_rng(3)
    y = rng.normal(2.0, 0.5, size=200)
    x = y + 0.1 + rng.normal(0, 0.2, size=200)
    r = paired_bootstrap(x, y, n_boot=2000)
    assert r["p_value"] < 0.01 and 0.05 < r["low"] < r["mean_diff"] < r["high"] < 0.15
    assert r["relative_diff_pct"] == pytest.approx(100 * (x - y).mean() / y.mean())
    assert r["relative_low_pct"] < r["relative_diff_pct"] < r["relative_high_pct"]
    # the pairing matters: the same values unpaired (shuffled) leave the shift far inside the noise
    loose = paired_bootstrap(x, y[rng.permutation(200)], n_boot=2000)
    assert loose["high"] - loose["low"] > 2 * (r["high"] - r["low"])


def test_bootstrap_is_seeded_and_bounded():
    x, y = np.full(50, 2.0), np.full(50, 1.0)
    r = paired_bootstrap(x, y, n_boot=500)
    assert r["mean_diff"] == 1.0 and r["low"] == r["high"] == pytest.approx(1.0) and r["p_value"] == 1 / 501
    z = np.random.default_rng(0).normal(size=30)
    w = 1 + z[::-1]
    assert paired_bootstrap(z, w, seed=5) == paired_bootstrap(z, w, seed=5)
    assert paired_bootstrap(z, w, seed=5)["low"] != paired_bootstrap(z, w, seed=6)["low"]
    assert np.isnan(paired_bootstrap(z, 0 * z)["relative_diff_pct"])  # no baseline to be relative to
    with pytest.raises(InputError, match="finite"):
        paired_bootstrap([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(InputError, match="same length"):
        paired_bootstrap([1.0, 2.0], [1.0])


def test_rates_in_summaries_carry_intervals():
    r = category_rates([True, False, True, True], ["a", "a", "b", None])
    assert r["k"] == 3 and r["n"] == 4 and (r["low"], r["high"]) == pytest.approx(wilson_interval(3, 4))
    assert r["per_category"]["a"] == pytest.approx(rate(1, 2))
    s = set_summary({"refused": [True, False, True], "category": ["x", "y", "x"]})
    assert s["rate"] == pytest.approx(2 / 3) and s["rates"]["refusal"]["k"] == 2
    assert s["per_category"]["x"]["n"] == 2
    nll = nll_summary([1.0, 2.0, 3.0, 4.0])
    assert (nll["low"], nll["high"]) == pytest.approx((2.5 - 3.182446 * nll["sem"], 2.5 + 3.182446 * nll["sem"]))
    assert math.isnan(nll_summary([1.0])["low"])
