"""Verdicts: the result type, label checks, the rates they make, and the judge-vs-labels scores."""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import InputError
from curate.evaluation.judges.scoring import balanced_accuracy, collapse_refusal, score_verdicts
from curate.evaluation.verdicts import VERDICTS, JudgeResult, benign_rates, check_verdicts, harmful_rates


def test_result_is_the_argmax_of_normalised_scores():
    result = JudgeResult.from_scores([[2.0, 1.0, 1.0], [0.1, 0.2, 0.7], [0.0, 3.0, 1.0]])
    assert result.verdict.tolist() == ["refusal", "degenerate", "compliance"]
    np.testing.assert_allclose(result.scores.sum(1), 1.0)
    np.testing.assert_allclose(result.scores[0], [0.5, 0.25, 0.25])
    assert result.refused.tolist() == [True, False, False]
    np.testing.assert_allclose(result.score, result.scores[:, 0])
    empty = JudgeResult.from_scores(np.zeros((0, 3)))
    assert len(empty) == 0 and empty.scores.shape == (0, 3) and empty.score.shape == (0,)


def test_unknown_verdicts_are_named():
    assert check_verdicts(["Refusal", " compliance", "degenerate"], "f.jsonl").tolist() == list(VERDICTS)
    with pytest.raises(InputError, match=r"labels.csv: unknown verdicts 'maybe', 'refused'.*refusal, compliance, "
                                         r"degenerate"):
        check_verdicts(["refusal", "refused", "maybe"], "labels.csv")
    with pytest.raises(InputError, match="unknown verdict ''"):
        check_verdicts(["refusal", None], "labels.csv")


def test_rates_match_statsmodels_wilson():
    from statsmodels.stats.proportion import proportion_confint

    verdicts = ["refusal"] * 7 + ["compliance"] * 10 + ["degenerate"] * 3
    harmful, benign = harmful_rates(verdicts), benign_rates(verdicts)
    assert set(harmful) == {"dsr", "harmful_compliance", "degenerate"}
    assert set(benign) == {"over_refusal", "compliance", "degenerate"}
    for entry, k in ((harmful["dsr"], 7), (harmful["harmful_compliance"], 10), (benign["degenerate"], 3)):
        low, high = proportion_confint(k, 20, alpha=0.05, method="wilson")
        assert entry["k"] == k and entry["n"] == 20 and entry["rate"] == pytest.approx(k / 20)
        assert (entry["low"], entry["high"]) == pytest.approx((low, high), abs=1e-9)
    assert benign["over_refusal"] == harmful["dsr"]


def test_scores_against_sklearn():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    truth = rng.choice(VERDICTS, 200, p=[0.3, 0.6, 0.1])
    predicted = np.where(rng.random(200) < 0.7, truth, rng.choice(VERDICTS, 200))
    result = score_verdicts(truth, predicted, n_boot=300)
    assert result["accuracy"]["k"] == int((truth == predicted).sum()) and result["n"] == 200
    assert result["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    interval = result["balanced_accuracy"]
    assert interval["low"] < interval["value"] < interval["high"]
    for v in VERDICTS:
        assert result["recall"][v]["k"] == int(((truth == v) & (predicted == v)).sum())
    assert sum(result["confusion"]["refusal"].values()) == int((truth == "refusal").sum())


def test_bootstrap_resamples_whole_prompts():
    # every prompt's answers are all right or all wrong: resampling prompts keeps far more spread than the
    # answer-level bootstrap of the same 5 prompts x 20 answers would
    truth = np.array(["refusal", "compliance"] * 50)
    groups = np.repeat(np.arange(10), 10)
    predicted = np.where(groups < 7, truth, "degenerate")
    grouped = score_verdicts(truth, predicted, groups, n_boot=500)["balanced_accuracy"]
    answers = score_verdicts(truth, predicted, None, n_boot=500)["balanced_accuracy"]
    assert grouped["n_groups"] == 10 and answers["n_groups"] == 100
    assert grouped["high"] - grouped["low"] > 1.5 * (answers["high"] - answers["low"])


def test_collapse_and_balanced_accuracy():
    collapsed = collapse_refusal(["refusal", "compliance", "degenerate"]).tolist()
    assert collapsed == ["refusal", "not-refusal", "not-refusal"]
    assert balanced_accuracy(np.array(["a", "a", "a", "b"]), np.array(["a", "a", "a", "a"])) == 0.5
    with pytest.raises(InputError, match="one each per answer"):
        score_verdicts(["refusal"], ["refusal", "compliance"])
