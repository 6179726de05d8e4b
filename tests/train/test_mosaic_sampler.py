"""MOSAIC order-based sampler: budgets per order, 1:1 balance, subset coverage, cycling, bad input."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from curate.errors import InputError
from train.mosaic.sampler import cycle_batches, order_budgets, sample_tasks

CATS = {c: list(range(i * 10, i * 10 + 10)) for i, c in enumerate("abcde")}
NEUTRAL = list(range(100, 130))


def test_budgets_are_capped_at_the_first_order():
    # K=5, N=6: order 1 = 30; C(5,2)=10 subsets -> 60 capped to 30; C(5,5)=1 -> 6
    assert order_budgets(5, 5, 6) == {1: (5, 30), 2: (10, 30), 3: (10, 30), 4: (5, 30), 5: (1, 6)}
    assert order_budgets(3, 5, 4) == {1: (3, 12), 2: (3, 12), 3: (1, 4)}


def test_tasks_balance_cover_every_subset_and_label_correctly():
    tasks = sample_tasks(CATS, NEUTRAL, max_order=3, per_subset=6, seed=1)
    assert sorted(tasks) == [1, 2, 3]
    for order, order_tasks in tasks.items():
        subsets = Counter(tuple(sorted(t.active)) for t in order_tasks if t.positive)
        assert set(subsets) == set(itertools.combinations("abcde", order))  # every subset covered
        assert sum(subsets.values()) == 30  # the order's budget
        assert max(subsets.values()) - min(subsets.values()) <= 1  # spread evenly
        negatives = Counter(tuple(sorted(t.active)) for t in order_tasks if not t.positive)
        assert negatives == subsets  # 1:1 per subset
        for t in order_tasks:
            in_active = any(t.row in CATS[c] for c in t.active)
            assert in_active == t.positive


def test_positives_spread_over_the_subset_categories():
    tasks = sample_tasks(CATS, NEUTRAL, max_order=2, per_subset=8, seed=0)
    for subset in itertools.combinations("abcde", 2):
        rows = [t.row for t in tasks[2] if t.positive and tuple(sorted(t.active)) == subset]
        per_cat = [sum(r in CATS[c] for r in rows) for c in subset]
        assert abs(per_cat[0] - per_cat[1]) <= 1


def test_negatives_split_between_neutral_and_inactive():
    tasks = sample_tasks(CATS, NEUTRAL, max_order=1, per_subset=6, seed=0)
    for category in CATS:
        rows = [t.row for t in tasks[1] if not t.positive and t.active == (category,)]
        assert sum(r in NEUTRAL for r in rows) == 3 and len(rows) == 6


def test_must_include_restricts_subsets():
    tasks = sample_tasks(CATS, NEUTRAL, max_order=2, per_subset=4, must_include={"e"})
    assert all("e" in t.active for ts in tasks.values() for t in ts)
    assert {tuple(sorted(t.active)) for t in tasks[2]} == {(c, "e") for c in "abcd"}


def test_cycle_batches_alternate_orders_and_keep_every_task():
    tasks = sample_tasks(CATS, NEUTRAL, max_order=3, per_subset=4, seed=0)
    batches = cycle_batches(tasks, batch_size=8, epochs=2)
    orders = [len(b[0].active) for b in batches]
    assert orders[:3] == [1, 2, 3]
    assert all(len({len(t.active) for t in b}) == 1 for b in batches)
    assert sum(len(b) for b in batches) == 2 * sum(len(ts) for ts in tasks.values())


def test_category_without_examples_is_an_error():
    with pytest.raises(InputError, match="category e has no examples"):
        sample_tasks({**CATS, "e": []}, NEUTRAL, 2, 4)
