"""The fair CAST bench's data and map stability: disjoint sets from the registry, the stability figures."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from bench.cast._data import SET_NAMES, SplitSizes, build_splits, check_disjoint, registry_pools
from bench.cast._stability import map_stability, spearman, top_overlap, top_set
from curate.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def splits():
    return build_splits(registry_pools(), SplitSizes(), seed=0)


def test_sets_are_disjoint_and_large_enough(splits):
    assert set(splits) == set(SET_NAMES)
    for name in ("calib_safe_a", "calib_safe_b", "calib_util_a", "calib_util_b"):
        assert splits[name].num_rows >= 64, name
    seen_ids, seen_prompts = set(), set()
    for table in splits.values():
        ids = set(table.column("id").to_pylist())
        prompts = {p.lower().strip() for p in table.column("prompt").to_pylist()}
        assert not ids & seen_ids and not prompts & seen_prompts
        seen_ids |= ids
        seen_prompts |= prompts


def test_utility_distribution_is_outside_the_training_data(splits):
    train_sources = set(splits["train"].column("source").to_pylist())
    assert "man-pages" not in train_sources and "wordnet" in train_sources
    assert set(splits["nll"].column("source").to_pylist()) == {"man-pages"}
    assert set(splits["calib_util_a"].column("source").to_pylist()) == {"man-pages"}
    assert all(s.endswith("+refusal") for s in splits["calib_safe_a"].column("source").to_pylist())
    benign = sum(s == "wordnet" for s in splits["train"].column("source").to_pylist())
    assert benign == round(0.2 * 400)


def test_draws_depend_on_the_seed():
    pools = registry_pools()
    a, b = build_splits(pools, SplitSizes(), 0), build_splits(pools, SplitSizes(), 1)
    assert a["calib_util_a"].column("id").to_pylist() != b["calib_util_a"].column("id").to_pylist()
    assert a["nll"].column("id").to_pylist() == build_splits(pools, SplitSizes(), 0)["nll"].column("id").to_pylist()


def test_overlap_is_rejected():
    one = pa.table({"id": ["x1", "x2"], "prompt": ["What is a cat?", "b"]})
    two = pa.table({"id": ["y1"], "prompt": ["what is a  CAT"]})
    with pytest.raises(InputError, match="sets train and nll share 0 ids and 1 prompts"):
        check_disjoint({"train": one, "nll": two})


def test_small_calibration_is_rejected():
    with pytest.raises(ConfigError, match="--calibration-rows 63: must be >= 64"):
        SplitSizes(calibration_rows=63)


def test_stability_of_equal_reversed_and_noisy_maps():
    rng = np.random.default_rng(0)
    a = {c: rng.normal(size=100) for c in ("score", "conflict", "sensitivity")}
    same = map_stability(a, a, [0.1])
    assert same["spearman"] == {"score": pytest.approx(1.0), "conflict": pytest.approx(1.0),
                                "sensitivity": pytest.approx(1.0)}
    assert same["top_overlap"]["0.1"] == {"k": 10, "overlap": 1.0, "chance": 0.1}
    reversed_ = map_stability(a, {c: -v for c, v in a.items()}, [0.2])
    assert reversed_["spearman"]["score"] == pytest.approx(-1.0)
    assert reversed_["top_overlap"]["0.2"]["overlap"] == 0.0
    assert top_set([0.5, 0.9, 0.9, 0.1], 0.5) == {1, 2}
    assert top_overlap([3, 2, 1, 0], [3, 0, 1, 2], 0.5) == 0.5
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
