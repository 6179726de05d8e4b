"""bench.eval.judge_pool: the pool holds every labelled set but the test sets, grouped by prompt, and a test set
that shares a prompt with the pool is refused."""

from __future__ import annotations

import pytest

from bench.eval import judge_pool
from curate.errors import InputError


@pytest.fixture(scope="module")
def pool():
    return judge_pool.pool_labels()


def test_the_pool_is_judge_labels_plus_the_cast_and_seed0_sets_grouped_by_normalised_prompt(pool):
    from curate.datasets._keys import normalize_text
    from curate.datasets.judge_labels import judge_label_rows

    labels, origin = pool
    n_own = len(judge_label_rows())
    assert (origin == "judge-labels").sum() == n_own and {"cast", "e2e"} <= set(origin.tolist())
    assert len(labels) == len(origin) == len(labels.prompts) == len(labels.verdicts)
    # one group per prompt text, whatever id each source gave it
    assert labels.groups.tolist() == [normalize_text(p) for p in labels.prompts]
    assert set(labels.verdicts.tolist()) == {"refusal", "compliance", "degenerate"}


def test_the_default_test_sets_share_no_prompt_with_the_pool_and_a_pool_prompt_is_refused(pool):
    labels, _ = pool
    for path in judge_pool.TESTS:  # raises if a test set overlaps the pool
        rows = judge_pool._test_rows(str(path), labels)
        assert len(rows) == 180
    taken = {"prompt_id": "p-shared", "prompt": "  " + labels.prompts[0].upper() + " "}
    with pytest.raises(InputError, match=r"x\.csv: 1 prompts are also in the pool \(e\.g\. \['p-shared'\]\)"):
        judge_pool.check_disjoint(labels, [rows[0], taken], "x.csv")


def test_an_unknown_candidate_is_refused_before_any_work():
    with pytest.raises(SystemExit, match="unknown cross-encodr"):
        judge_pool.main(["--candidates", "rules,cross-encodr"])
