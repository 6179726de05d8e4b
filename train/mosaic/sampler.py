"""MOSAIC order-based task sampling.

Order r = |S| (number of active categories). Order 1 gets `per_subset` positives for each of the K categories,
a total of B1 = K * per_subset. Every order r gets the budget min(per_subset * C(K, r), B1) positives (capped at
the first order's total), spread evenly over all C(K, r) subsets of that size; each subset gets as many
negatives as positives (1:1). A positive is a prompt of an active category (spread evenly over the subset's
categories); negatives are half neutral prompts, half prompts of inactive categories (when both exist). Training
cycles through orders: one batch of order 1, one of order 2, ..., then order 1 again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from curate.errors import InputError

__all__ = ["Task", "order_budgets", "sample_tasks", "cycle_batches"]


@dataclass(frozen=True)
class Task:
    active: tuple[str, ...]
    """The active categories, in the order their tokens are concatenated."""
    row: int
    """Index of the prompt in the training table."""
    positive: bool
    """True: the prompt is in an active category (target: refusal)."""


def order_budgets(n_categories: int, max_order: int, per_subset: int) -> dict[int, tuple[int, int]]:
    """{order: (number of subsets, positives for the order)}; negatives equal positives."""
    first = n_categories * per_subset
    budgets = {}
    for order in range(1, min(max_order, n_categories) + 1):
        subsets = len(list(itertools.combinations(range(n_categories), order)))
        budgets[order] = (subsets, min(per_subset * subsets, first))
    return budgets


def _even_split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _draw(pool: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows from `pool`, without replacement while the pool lasts, then cycling a fresh permutation."""
    reps = -(-count // len(pool))
    return np.concatenate([rng.permutation(pool) for _ in range(reps)])[:count]


def sample_tasks(rows_by_category: dict[str, list[int]], neutral_rows: list[int], max_order: int, per_subset: int,
                 seed: int = 0, must_include: set[str] | None = None) -> dict[int, list[Task]]:
    """{order: tasks}. `must_include` keeps only subsets containing one of these categories (incremental training)."""
    categories = sorted(rows_by_category)
    empty = [c for c in categories if not rows_by_category[c]]
    if empty:
        one = len(empty) == 1
        raise InputError(f"categor{'y' if one else 'ies'} {', '.join(empty)} ha{'s' if one else 've'}"
                         " no examples; remove it or add rows with that category")
    rng = np.random.default_rng(seed)
    tasks: dict[int, list[Task]] = {}
    for order, (n_subsets, budget) in order_budgets(len(categories), max_order, per_subset).items():
        subsets = list(itertools.combinations(categories, order))
        per = _even_split(budget, n_subsets)
        chosen = [(s, n) for s, n in zip(subsets, per) if not must_include or must_include.intersection(s)]
        order_tasks: list[Task] = []
        for subset, count in chosen:
            order_tasks += _subset_tasks(subset, count, rows_by_category, neutral_rows, rng)
        tasks[order] = order_tasks
    return tasks


def _subset_tasks(subset, count, rows_by_category, neutral_rows, rng) -> list[Task]:
    active = tuple(rng.permutation(list(subset)))  # random concatenation order: composition must not depend on it
    positives: list[int] = []
    for category, n in zip(subset, _even_split(count, len(subset))):
        if n:
            positives += _draw(np.asarray(rows_by_category[category]), n, rng).tolist()
    inactive = [r for c, rows in rows_by_category.items() if c not in subset for r in rows]
    pools = [np.asarray(p) for p in (neutral_rows, inactive) if len(p)]
    if count and not pools:
        raise InputError("no negative examples: add neutral rows (category null) so non-refusal can be learned")
    # half neutral, half inactive-category prompts: both kinds must stay answered, however large the neutral pool
    negatives = [r for pool, n in zip(pools, _even_split(count, len(pools))) if n for r in _draw(pool, n, rng).tolist()]
    return [Task(active, int(r), True) for r in positives] + [Task(active, int(r), False) for r in negatives]


def cycle_batches(tasks: dict[int, list[Task]], batch_size: int, epochs: int, seed: int = 0) -> list[list[Task]]:
    """Batches (all tasks of one order) cycling through orders 1, 2, ..., R, 1, ...; an exhausted order drops out."""
    schedule: list[list[Task]] = []
    for epoch in range(epochs):
        rng = np.random.default_rng(seed + 1000 + epoch)
        queues = {}
        for order, order_tasks in sorted(tasks.items()):
            shuffled = [order_tasks[i] for i in rng.permutation(len(order_tasks))]
            queues[order] = [shuffled[i:i + batch_size] for i in range(0, len(shuffled), batch_size)]
        while any(queues.values()):
            for order in sorted(queues):
                if queues[order]:
                    schedule.append(queues[order].pop(0))
    return schedule
