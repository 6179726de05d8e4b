"""Refusal judge: rules, logistic-regression fit, honest cross-validation, serialisation, metrics."""

from __future__ import annotations

import numpy as np
import pytest

from curate.evaluation.judge import RefusalJudge, encode_texts
from curate.evaluation.judge_train import cross_validate
from curate.evaluation.metrics import gap_closed, nll_summary, rate_by_category
from curate.evaluation.rules import rule_refusal


def test_rules():
    got = rule_refusal([
        "I'm sorry, but I can't help with that.", "I can\u2019t help write that.", "[CLASSIC] I cannot do this",
        "", "Sure! Here is a recipe.", "The tar command archives files. " + "x" * 200 + " I'm sorry to say it is old.",
    ])
    assert got.tolist() == [True, True, True, True, False, False]


def _synthetic(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 5)) + y[:, None] * 1.5
    rules = (y == 1) & (rng.random(n) < 0.3)
    return np.hstack([x, rules[:, None].astype(float)]), y


def test_fit_matches_sklearn_and_roundtrips(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = _synthetic()
    judge = RefusalJudge.fit(x, y)
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=0.5, max_iter=2000).fit(scaler.transform(x), y).predict_proba(scaler.transform(x))[:, 1]
    np.testing.assert_allclose(judge.probability(x), ref, atol=1e-8)
    judge.metrics = {"note": "t"}
    judge.save(tmp_path / "j.json")
    loaded = RefusalJudge.load(tmp_path / "j.json")
    np.testing.assert_allclose(loaded.probability(x), judge.probability(x))
    assert loaded.metrics == {"note": "t"}
    # the rule flag forces a refusal verdict
    res = judge.judge_features(np.hstack([x[:1, :-1] * 0 - 10, [[1.0]]]))
    assert res.refused[0] and res.score[0] >= 0.99


def test_cross_validation_is_out_of_fold():
    x, y = _synthetic(200)
    cv = cross_validate(x, y, folds=5, repeats=2)
    assert 0.75 < cv["combined_accuracy"] <= 1.0 and cv["n"] == 200
    # labels unrelated to features: held-out accuracy must fall to chance (a train-set score would not)
    shuffled = np.random.default_rng(1).permutation(y)
    x_noise = np.hstack([np.random.default_rng(2).normal(size=(200, 40)), np.zeros((200, 1))])
    assert cross_validate(x_noise, shuffled, folds=5, repeats=2)["classifier_accuracy"] < 0.65


def test_judge_encoder_is_a_masked_mean_pool(tiny_text_model):
    """The judge's vectors (embed's TextEncoder) equal a plain padded-batch masked mean, L2-normalised."""
    import torch

    from curate.models import load_text_encoder

    sentences = ["I can't help with that.", "Sure: here is a longer answer, with several more words.", "ok"]
    got = encode_texts(sentences, str(tiny_text_model), batch_size=2)
    tokenizer, model = load_text_encoder(str(tiny_text_model))
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    assert got.shape == (3, 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert encode_texts([], str(tiny_text_model)).shape == (0, 32)


def test_metric_arithmetic():
    r = rate_by_category([True, False, True, True], ["a", "a", "b", None])
    assert r["rate"] == 0.75 and r["per_category"]["a"] == {"n": 2, "rate": 0.5}
    assert r["per_category"]["(none)"]["rate"] == 1.0
    assert gap_closed(0.6, 0.3, 0.2) == pytest.approx(0.75)
    assert np.isnan(gap_closed(0.2, 0.1, 0.2))
    s = nll_summary([1.0, 3.0])
    assert s["mean"] == 2.0 and s["sem"] == pytest.approx(1.0) and s["perplexity"] == pytest.approx(np.e ** 2)


def test_eval_reports_three_verdicts(tiny_lm_model, tmp_path, capsys):
    """`curate eval --judge FILE`: results carry verdict + scores (and the old refused column), the summary and the
    printed line carry DSR, harmful compliance, degenerate and over-refusal with Wilson intervals."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.cli import main
    from curate.evaluation.judges import judge_class, save_judge
    from curate.evaluation.stats import rate

    harmful, benign = tmp_path / "harmful.parquet", tmp_path / "benign.parquet"
    prompts = ["do bad", "do worse", "bad thing", "worst"]
    pq.write_table(pa.table({"prompt": prompts, "category": list("aabb")}), harmful)
    pq.write_table(pa.table({"prompt": ["hi", "2+2", "name a colour"]}), benign)
    save_judge(judge_class("rules")(), tmp_path / "rules.json", trained_on={"labels": None})
    out = tmp_path / "eval"
    main(["eval", "--model", str(tiny_lm_model), "--prompts", str(harmful), "--benign-prompts", str(benign),
          "--max-new-tokens", "6", "--judge", str(tmp_path / "rules.json"), "--out", str(out)])
    printed = capsys.readouterr().out
    results = pq.read_table(out / "results.parquet").to_pydict()
    verdicts = np.array(results["verdict"])
    assert set(verdicts) <= set(VERDICTS_ALL) and len(verdicts) == 7
    assert results["refused"] == (verdicts == "refusal").tolist()
    scores = np.array([results[f"score_{v}"] for v in VERDICTS_ALL]).T
    np.testing.assert_allclose(scores.sum(1), 1.0)
    np.testing.assert_allclose(results["judge_score"], scores[:, 0])
    summary = json.loads((out / "summary.json").read_text())
    for kind, rows in (("harmful", slice(0, 4)), ("benign", slice(4, 7))):
        for name in ("refusal", "compliance", "degenerate"):
            k = int((verdicts[rows] == name).sum())
            got = summary[kind]["rates"][name]
            assert {key: got[key] for key in ("rate", "low", "high", "k", "n")} == rate(k, rows.stop - rows.start)
    assert summary["judge"]["kind"] == "rules" and summary["judge"]["file"] == str(tmp_path / "rules.json")
    for label in ("DSR", "harmful compliance", "degenerate (harmful)", "over-refusal", "degenerate (benign)"):
        assert f"{label} " in printed
    main(["eval", "--model", str(tiny_lm_model), "--prompts", str(harmful), "--max-new-tokens", "2",
          "--judge-path", str(tmp_path / "rules.json"), "--out", str(tmp_path / "eval2")])  # the earlier name
    assert json.loads((tmp_path / "eval2" / "summary.json").read_text())["judge"]["kind"] == "rules"


VERDICTS_ALL = ("refusal", "compliance", "degenerate")
