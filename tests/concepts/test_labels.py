"""assign_labels: thresholds decide which concepts count as undesirable / desirable."""

import numpy as np

from concepts.labels import LabelScores, assign_labels


def _scores(harm, data, desirable):
    return LabelScores(harm_lexicon=np.array(harm), harm_category=np.array(["x"] * len(harm)),
                       desirable_lexicon=np.array(desirable), harm_data=np.array(data))


def test_thresholds_move_concepts_between_labels():
    scores = _scores(harm=[0.70, 0.55, 0.50, 0.10], data=[0.1, 0.2, 0.6, 0.1], desirable=[0.1, 0.1, 0.1, 0.65])
    assert list(assign_labels(scores)) == ["undesirable", "neutral", "undesirable", "desirable"]
    # a looser lexicon threshold lets the 0.55 concept in (e.g. weapon/gun just under the default 0.6)
    assert list(assign_labels(scores, lexicon_threshold=0.55))[:2] == ["undesirable", "undesirable"]
    # the data rule needs both a near-lexicon cosine and similarity to the harmful prompts
    assert assign_labels(scores, data_threshold=0.7)[2] == "neutral"
    assert assign_labels(scores, desirable_threshold=0.7)[3] == "neutral"
