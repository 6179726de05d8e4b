import numpy as np
import pytest

from concepts.directions import mean_difference, merge_duplicates
from curate.errors import InputError


def test_planted_concept_direction_is_recovered():
    rng = np.random.default_rng(0)
    d, planted = 32, rng.normal(size=(3, 32))
    planted /= np.linalg.norm(planted, axis=1, keepdims=True)
    background = rng.normal(size=(200, d))
    acts, pos = background.copy(), np.zeros((3, 20), dtype=int)
    for c in range(3):
        pos[c] = np.arange(20) + 20 * c
        acts[pos[c]] += 6.0 * planted[c]
    neg = np.tile(np.arange(100, 200), (3, 1))
    directions = mean_difference(acts, pos, neg)
    cos = (directions * planted).sum(1)
    assert np.all(cos > 0.95), cos
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, rtol=1e-5)


def test_mean_difference_exact_and_ignores_missing():
    acts = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    pos = np.array([[0, 1, -1]])
    neg = np.array([[2, -1, 3]])
    # mean pos (2, 0), mean neg (0, 3) -> (2, -3) / sqrt(13)
    np.testing.assert_allclose(mean_difference(acts, pos, neg)[0], np.array([2, -3]) / np.sqrt(13), rtol=1e-6)
    with pytest.raises(InputError, match="no positive or no negative"):
        mean_difference(acts, np.array([[-1, -1]]), neg)
    with pytest.raises(InputError, match="past the activation rows"):
        mean_difference(acts, np.array([[7]]), neg)


def test_merge_duplicates_keeps_earliest_leader():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(4, 16))
    dirs = np.vstack([base[0], base[1], base[0] + 0.01 * rng.normal(size=16), base[2], base[1] * 1.0001, base[3]])
    leader = merge_duplicates(dirs, threshold=0.99, block=2)
    assert leader.tolist() == [0, 1, 0, 3, 1, 5]
    separate = merge_duplicates(base, threshold=0.99)
    assert separate.tolist() == [0, 1, 2, 3]
