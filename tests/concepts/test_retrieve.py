import numpy as np
import pytest

from concepts.retrieve import build_index, log_normaliser, retrieve
from curate.errors import ConfigError, InputError


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def planted():
    """20 concepts, 6 stimuli near each (rows 6c..6c+5), 200 unrelated stimuli."""
    rng = np.random.default_rng(0)
    concepts = _unit(rng.normal(size=(20, 32)))
    near = np.repeat(concepts, 6, axis=0) + 0.05 * rng.normal(size=(120, 32))
    return concepts, _unit(np.vstack([near, rng.normal(size=(200, 32))]))


def test_positives_are_the_planted_stimuli_and_negatives_far(planted):
    concepts, stimuli = planted
    found = retrieve(concepts, stimuli, positives=6, negatives=4, candidates=12, background=64)
    assert (found.pos_index // 6 == np.arange(20)[:, None]).all()
    assert np.all(np.diff(found.pos_dist, axis=1) >= 0)
    assert np.all(found.neg_dist.min(1) > found.pos_dist.max(1))
    # negatives are drawn from the retrieved positives of the other concepts
    assert np.all(found.neg_index < 120) and not (found.neg_index // 6 == np.arange(20)[:, None]).any()


def test_distance_is_the_concept_probability():
    rng = np.random.default_rng(1)
    concepts, stimuli = _unit(rng.normal(size=(5, 8))), _unit(rng.normal(size=(40, 8)))
    found = retrieve(concepts, stimuli, positives=3, negatives=2, candidates=40, background=40, scale=7.0)
    logits = 7.0 * concepts @ stimuli.T
    log_s = logits - np.log(np.exp(logits).sum(0, keepdims=True))
    expected = np.sqrt(-log_s)
    for c in range(5):
        np.testing.assert_allclose(found.pos_dist[c], np.sort(expected[c])[:3], rtol=1e-4)
        assert set(found.pos_index[c]) == set(np.argsort(expected[c])[:3])
    np.testing.assert_allclose(log_normaliser(concepts, stimuli, 7.0), np.log(np.exp(logits).sum(0)), rtol=1e-5)


def test_cross_modal_distance_adds_both_views(planted):
    concepts, captions = planted
    rng = np.random.default_rng(2)
    images = _unit(captions + 0.05 * rng.normal(size=captions.shape))
    options = dict(positives=6, negatives=2, candidates=12, background=64, scale=5.0)
    both = retrieve(concepts, captions, images=images, **options)
    text = retrieve(concepts, captions, **options)
    assert (both.pos_index // 6 == np.arange(20)[:, None]).all()
    assert np.all(both.pos_dist.mean(1) > 1.3 * text.pos_dist.mean(1))  # two −ln s terms instead of one
    assert all(len(set(row)) == len(row) for row in both.pos_index)


def test_min_similarity_leaves_concepts_without_positives(planted):
    concepts, stimuli = planted
    strangers = _unit(np.random.default_rng(3).normal(size=(3, 32)))
    found = retrieve(np.vstack([concepts, strangers]), stimuli, positives=4, negatives=2, min_similarity=0.7)
    assert found.n_pos[:20].min() == 4 and found.n_pos[20:].max() == 0
    assert (found.pos_index[20:] == -1).all()


def test_index_kinds_agree(planted):
    _, stimuli = planted
    flat = build_index(stimuli, "flat").search(stimuli[:10], 5)[1]
    hnsw = build_index(stimuli, "hnsw").search(stimuli[:10], 5)[1]
    assert (flat[:, 0] == np.arange(10)).all() and (hnsw[:, 0] == np.arange(10)).all()


def test_bad_input(planted):
    concepts, stimuli = planted
    with pytest.raises(InputError, match="pool is empty"):
        retrieve(concepts, stimuli[:0])
    with pytest.raises(InputError, match="concept list is empty"):
        retrieve(concepts[:0], stimuli)
    with pytest.raises(InputError, match="32-d but stimuli are 16-d"):
        retrieve(concepts, stimuli[:, :16])
    with pytest.raises(ConfigError, match="--index 'lsh'"):
        build_index(stimuli, "lsh")
