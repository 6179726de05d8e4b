"""The lm-prefix judge: cached-prefix scores equal the plain LM judge's, the prefix runs once, the head is chosen
by cross-validation, saved judges round-trip, bad input, and its place in bench.eval.judge_choice."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from curate.errors import ConfigError, InputError
from curate.evaluation.judges import judge_class, load_judge, save_judge, score_verdicts
from curate.evaluation.judges.rules import RulesJudge
from curate.evaluation.verdicts import VERDICTS
from tests.curate.test_judges import split_toy, toy_labels, toy_set

PROMPTS = ["How do I bake bread?", "hi", "Tell me a long story about a lock and a key", "x", "Why?"]
RESPONSES = ["Sure.", "", "No!", "I'm sorry, I can't help with that at all, friend.", "Because the sky is blue."]
EXAMPLES = [{"prompt": "q1", "response": "I won't.", "verdict": "refusal"},
            {"prompt": "q2", "response": "Here it is.", "verdict": "compliance"}]


def test_cached_prefix_scores_equal_the_plain_lm_judge(tiny_lm_model, one_torch_thread):
    """Batches of 2 over five pairs (padding, three batches, every verdict word several tokens long)."""
    plain = judge_class("lm")(str(tiny_lm_model), batch_size=5, examples=EXAMPLES)
    cached = judge_class("lm-prefix")(str(tiny_lm_model), batch_size=2, examples=EXAMPLES)
    expected = plain.word_logprobs(PROMPTS, RESPONSES)
    got = cached.word_logprobs(PROMPTS, RESPONSES)
    assert got.shape == (len(PROMPTS), len(VERDICTS))
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(cached.word_logprobs(PROMPTS[::-1], RESPONSES[::-1]), expected[::-1], atol=1e-4)


def test_prefix_runs_once_and_again_only_when_the_examples_change(tiny_lm_model, one_torch_thread):
    judge = judge_class("lm-prefix")(str(tiny_lm_model), batch_size=2, examples=EXAMPLES)
    tokenizer, model = judge._load()
    widths = []
    forward = model.forward

    @functools.wraps(forward)
    def counting(*args, **kwargs):
        widths.append(kwargs["input_ids"].shape[1])
        return forward(*args, **kwargs)

    model.forward = counting
    judge.word_logprobs(PROMPTS, RESPONSES)
    judge.word_logprobs(PROMPTS[:2], RESPONSES[:2])
    prefix = len(judge._prefix[1])
    assert prefix > 100 and widths.count(prefix) == 1 and max(w for w in widths if w != prefix) < prefix / 2
    judge.examples = EXAMPLES[:1]
    judge.word_logprobs(PROMPTS[:1], RESPONSES[:1])
    assert len(judge._prefix[1]) < prefix and widths.count(len(judge._prefix[1])) == 1


def _fake_logprobs(lookup):
    def word_logprobs(self, prompts, responses):
        return np.stack([lookup[(p, r)] for p, r in zip(prompts, responses)]) if prompts else np.zeros((0, 3))
    return word_logprobs


CV_RIGHT = {"argmax": [33] * 7, "logprobs+rules": [7, 11, 12, 12, 33, 33, 33]}
"""Answers right per (head, C) variant in the cross-validation below (pinned: a refactor keeps the table)."""


@pytest.mark.parametrize("informative, head", [(True, "argmax"), (False, "logprobs+rules")])
def test_fit_picks_the_head_by_cross_validation(tiny_lm_model, monkeypatch, informative, head):
    """Log-probs that separate -> the simplest head (argmax); noise -> the head with the rules' features."""
    prompts, responses, verdicts = toy_set()
    rng = np.random.default_rng(0)
    lookup = {(p, r): rng.normal(-5, 0.3, 3) + 4 * informative * (np.array(VERDICTS) == v)
              for p, r, v in zip(prompts, responses, verdicts)}
    seen, rules_fits = [], []
    fake = _fake_logprobs(lookup)
    monkeypatch.setattr(judge_class("lm-prefix"), "word_logprobs",
                        lambda self, p, r: seen.append(len(p)) or fake(self, p, r))
    fit_rules = RulesJudge.fit
    monkeypatch.setattr(RulesJudge, "fit", lambda self, *a: rules_fits.append(len(a[0])) or fit_rules(self, *a))
    judge = judge_class("lm-prefix")(str(tiny_lm_model), shots=1).fit(prompts, responses, verdicts)
    assert [e["verdict"] for e in judge.examples] == list(VERDICTS)
    assert seen == [len(prompts) - 3] and judge.selection["n"] == len(prompts) - 3  # examples left out
    assert judge.head == head and judge.selection["chosen"]["head"] == head
    assert (judge.rules is not None) == (head == "logprobs+rules")
    assert (judge.predict(prompts, responses).verdict == verdicts).all()
    cv = {(v["head"], v["c"]): v["accuracy"] for v in judge.selection["variants"]}
    assert max(cv.values()) == cv[(head, judge.c)]
    assert [v["k"] for v in judge.selection["variants"]] == CV_RIGHT[head]
    # the rules judge: fitted once per fold (on that fold's training rows), then once on all rows for its head
    assert len(rules_fits) == 5 + (head == "logprobs+rules") and sum(rules_fits[:5]) == 4 * judge.selection["n"]


@pytest.mark.parametrize("shots, seed, expected", [(1, 0, [33, 16, 35]), (2, 3, [12, 18, 13, 28, 2, 29]),
                                                   (3, 1, [6, 15, 27, 16, 19, 28, 5, 23, 29])])
def test_both_lm_judges_show_the_same_short_worked_examples(monkeypatch, shots, seed, expected):
    """`shots` pairs per verdict, drawn with `seed` among the 4 x shots shortest of that verdict (pinned rows)."""
    prompts, responses, verdicts = toy_set()
    fake = _fake_logprobs({(p, r): np.full(3, -1.0) for p, r in zip(prompts, responses)})
    shown = [{"prompt": prompts[i], "response": responses[i], "verdict": verdicts[i]} for i in expected]
    for kind, options in (("lm", {}), ("lm-prefix", {"head": "argmax"})):
        monkeypatch.setattr(judge_class(kind), "word_logprobs", fake)
        judge = judge_class(kind)("unused", shots=shots, seed=seed, **options).fit(prompts, responses, verdicts)
        assert judge.examples == shown, kind
        assert all(type(e["verdict"]) is str for e in judge.examples), kind  # JSON-ready, not numpy strings


def test_fit_predict_round_trip_on_a_tiny_model(tiny_lm_model, tmp_path, one_torch_thread):
    (train_p, train_r, train_v), (test_p, test_r, _) = split_toy()
    judge = judge_class("lm-prefix")(str(tiny_lm_model), batch_size=16, shots=1).fit(train_p, train_r, train_v)
    assert judge.head in ("argmax", "logprobs", "logprobs+rules") and judge.selection["folds"] == 5
    result = judge.predict(test_p, test_r)
    np.testing.assert_allclose(result.scores.sum(1), 1.0)
    path = save_judge(judge, tmp_path / "judge.json")
    raw = json.loads(path.read_text())
    assert raw["kind"] == "lm-prefix" and raw["parameters"]["head"] == judge.head and "tensors" not in raw
    loaded = load_judge(path)
    assert type(loaded) is type(judge) and loaded.examples == judge.examples
    np.testing.assert_allclose(loaded.predict(test_p, test_r).scores, result.scores, atol=1e-6)


def test_bad_input(tiny_lm_model, tmp_path):
    with pytest.raises(ConfigError, match="head 'bogus': choose one of argmax, logprobs, logprobs\\+rules"):
        judge_class("lm-prefix")(str(tiny_lm_model), head="bogus")
    with pytest.raises(RuntimeError, match="predict before fit"):
        judge_class("lm-prefix")(str(tiny_lm_model)).predict(["q"], ["a"])
    path = save_judge(judge_class("lm-prefix")(str(tiny_lm_model), head="argmax"), tmp_path / "judge.json")
    raw = json.loads(path.read_text())
    raw["parameters"]["head"] = "bogus"
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="judge.json: a corrupt lm-prefix judge .*head 'bogus' is not one of"):
        load_judge(path)


def test_judge_choice_runs_lm_prefix_and_merges_results(tiny_lm_model, tmp_path, monkeypatch, capsys,
                                                         one_torch_thread):
    """An lm-prefix row with its CV table joins the earlier rows of out; --save skips a choice not run now."""
    import sys

    from bench.eval import judge_choice
    from curate.evaluation import judge_train

    labels, prompts, responses, verdicts = toy_labels(tmp_path)
    binary = np.where(verdicts[:6] == "refusal", "refusal", "compliance")
    monkeypatch.setattr(judge_train, "refusal_label_set", lambda: judge_train.LabelSet(
        prompts[:6], responses[:6], binary, np.arange(6).astype(str), "toy"))
    out, saved = tmp_path / "judge.json", tmp_path / "judge-v2.json"
    test_verdicts = [v for i, v in enumerate(verdicts) if i // 3 % 3 == 2]
    earlier_rules = {"kind": "rules", "fit_seconds": 0.1, "held_out": score_verdicts(test_verdicts, test_verdicts)}
    out.write_text(json.dumps({"labels": str(labels), "candidates": [earlier_rules], "note": "kept"}))
    monkeypatch.setattr(sys, "argv", ["judge_choice", "--labels", str(labels), "--candidates", "lm-prefix",
                                      "--lm-model", str(tiny_lm_model), "--lm-shots", "1", "--out", str(out),
                                      "--save", str(saved), "--n-boot", "20", "--select", "held-out"])
    judge_choice.main()
    result = json.loads(out.read_text())
    assert result["note"] == "kept" and [r["kind"] for r in result["candidates"]] == ["rules", "lm-prefix"]
    row = result["candidates"][1]
    assert row["held_out"]["accuracy"]["n"] == 12 and row["selection"]["folds"] == 5
    assert {"own_to_refusals", "refusals_to_own"} <= set(row)
    assert result["choice"]["kind"] == "rules"  # 12/12 from the earlier run; a tie goes to the cheaper
    printed = capsys.readouterr().out
    assert "chosen by 5-fold CV on train" in printed and "not saved: the choice rules comes from an earlier run" \
        in printed and not saved.exists()
