"""bench.eval.judge_choice --select cv: prompt folds, the choice made on train CV alone, held-out verdicts and the
paired test against rules, and the work folder that lets a stopped run resume."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from bench.eval import _judge_cv, judge_choice
from curate.errors import ConfigError, InputError
from curate.evaluation import judge_train
from curate.evaluation.judges import judge_class, lm_prefix
from curate.evaluation.verdicts import VERDICTS
from tests.curate.test_judges import toy_set

FLIPPED_TASKS = (0, 1, 3)  # train tasks whose refusal answer is labelled compliance: rules gets them wrong


def test_prompt_folds_hold_whole_prompts_and_balance_rows():
    groups = np.array([f"p{i}" for i, size in enumerate([5, 1, 1, 3, 2, 2, 4, 1, 1]) for _ in range(size)])
    fold = _judge_cv.prompt_folds(groups, 3, seed=0)
    for name in np.unique(groups):
        assert np.unique(fold[groups == name]).size == 1  # a prompt never straddles two folds
    sizes = np.bincount(fold, minlength=3)
    assert sizes.sum() == groups.size and sizes.max() - sizes.min() <= 1
    np.testing.assert_array_equal(fold, _judge_cv.prompt_folds(groups, 3, seed=0))
    assert any((_judge_cv.prompt_folds(groups, 3, seed=s) != fold).any() for s in range(1, 6))
    with pytest.raises(ConfigError, match="--folds 10: need between 2 and the 9 prompts"):
        _judge_cv.prompt_folds(groups, 10, seed=0)
    with pytest.raises(ConfigError, match="--folds 1"):
        _judge_cv.prompt_folds(groups, 1, seed=0)


def _labels(tmp_path):
    """Toy labels (every third task held out) with some train refusals labelled compliance, and ids."""
    prompts, responses, verdicts = toy_set()
    split = ["test" if i // 3 % 3 == 2 else "train" for i in range(len(prompts))]
    labels = [("compliance" if v == "refusal" and i // 3 in FLIPPED_TASKS else v) for i, v in enumerate(verdicts)]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps({"id": f"a{i:02d}", "prompt": p, "response": r, "verdict": v, "prompt_id": p,
                                        "split": s}) + "\n"
                            for i, (p, r, v, s) in enumerate(zip(prompts, responses, labels, split))))
    return path, prompts, responses, np.array(labels), np.array(split)


def _fake_lm(monkeypatch, prompts, responses, labels, split, calls):
    """lm-prefix's model pass replaced: scores that name the label on train rows and a wrong verdict on test rows,
    so lm-prefix is perfect in train CV and wrong on every held-out answer."""
    lookup = {}
    for p, r, v, s in zip(prompts, responses, labels, split):
        named = VERDICTS.index(v) if s == "train" else (VERDICTS.index(v) + 1) % 3
        lookup[(p, r)] = -8.0 + 6.0 * np.eye(3)[named]

    def word_logprobs(self, ps, rs):
        calls.append(len(ps))
        return np.stack([lookup[(p, r)] for p, r in zip(ps, rs)]) if ps else np.zeros((0, 3))

    monkeypatch.setattr(judge_class("lm-prefix"), "word_logprobs", word_logprobs)
    monkeypatch.setattr(lm_prefix, "C_GRID", (1.0,))  # one C per head: the inner CV's regressions are the cost here
    refusals = judge_train.LabelSet(prompts[:6], responses[:6], np.where(labels[:6] == "refusal", "refusal",
                                                                         "compliance"), np.arange(6).astype(str), "toy")
    monkeypatch.setattr(judge_train, "refusal_label_set", lambda: refusals)


def _run(monkeypatch, labels, out, work, *extra):
    monkeypatch.setattr(sys, "argv", ["judge_choice", "--labels", str(labels), "--candidates", "lm-prefix",
                                      "--lm-model", "fake", "--lm-shots", "1", "--folds", "4", "--out", str(out),
                                      "--work", str(work), "--n-boot", "20", *extra])
    judge_choice.main()
    return json.loads(out.read_text())


def test_cv_chooses_on_train_then_tests_the_choice_against_rules_on_held_out(tmp_path, monkeypatch, capsys):
    import pyarrow.parquet as pq

    path, prompts, responses, labels, split = _labels(tmp_path)
    calls: list[int] = []
    _fake_lm(monkeypatch, prompts, responses, labels, split, calls)
    out, work, saved = tmp_path / "judge.json", tmp_path / "work", tmp_path / "judge-v2.json"
    result = _run(monkeypatch, path, out, work, "--save", str(saved))
    rows = {r["kind"]: r for r in result["candidates"]}
    assert set(rows) == {"rules", "lm-prefix"}  # rules joins as the paired test's reference
    cv = {kind: r["cv"] for kind, r in rows.items()}
    assert cv["rules"]["spec"] == cv["lm-prefix"]["spec"] and cv["rules"]["spec"]["folds"] == 4
    # the rows of lm-prefix's example prompts are scored by no kind (the examples come from the whole train split)
    train = [i for i, s in enumerate(split) if s == "train"]
    left_out = cv["rules"]["spec"]["left_out_prompts"]
    assert 1 <= len(left_out) <= 3 and cv["rules"]["n"] == sum(prompts[i] not in left_out for i in train)
    assert cv["lm-prefix"]["accuracy"]["k"] == cv["lm-prefix"]["n"] > cv["rules"]["accuracy"]["k"]
    assert len(cv["lm-prefix"]["selection"]) == 4  # the head chosen inside each outer fold
    assert all(s["head"] in ("argmax", "logprobs", "logprobs+rules") for s in cv["lm-prefix"]["selection"])

    choice = result["choice"]
    assert choice["kind"] == "lm-prefix" and choice["selected_on"] == "train CV"
    assert choice["why"].startswith("highest train CV accuracy (")
    # held-out tells the other story, and the paired test says so: 0/12 against 12/12
    assert rows["lm-prefix"]["held_out"]["accuracy"]["k"] == 0 and rows["rules"]["held_out"]["accuracy"]["k"] == 12
    held_out = choice["held_out"]
    assert held_out["chosen"]["k"] == 0 and held_out["rules"]["k"] == 12 and held_out["chosen"]["high"] < 0.3
    assert held_out["mcnemar"]["b01"] == 0 and held_out["mcnemar"]["b10"] == 12
    assert held_out["mcnemar"]["p_value"] == pytest.approx(2 * 0.5 ** 12)
    table = pq.read_table(held_out["predictions"]).to_pydict()
    test = [i for i, s in enumerate(split) if s == "test"]
    assert table["id"] == [f"a{i:02d}" for i in test] and table["label"] == labels[test].tolist()
    assert table["verdict_rules"] == labels[test].tolist()
    assert all(v != t for v, t in zip(table["verdict_lm-prefix"], table["label"]))
    printed = capsys.readouterr().out
    assert printed.index("choice on train CV: lm-prefix") < printed.index("lm-prefix: held-out")
    assert "McNemar only lm-prefix right 0, only rules right 12" in printed
    assert json.loads(saved.read_text())["metrics"]["choice"]["selected_on"] == "train CV"
    # one model pass over the train answers not shown as examples, reused by every fold and the final fit
    assert calls[0] == len(train) - 3 and calls.count(len(train) - 3) == 1
    # --select held-out, the earlier rule, would have chosen rules on the same data
    monkeypatch.setattr(sys, "argv", sys.argv + ["--select", "held-out", "--candidates", "rules,lm-prefix"])
    judge_choice.main()
    assert json.loads(out.read_text())["choice"]["kind"] == "rules"


def test_a_stopped_run_resumes_from_its_work_folder(tmp_path, monkeypatch):
    path, prompts, responses, labels, split = _labels(tmp_path)
    calls: list[int] = []
    _fake_lm(monkeypatch, prompts, responses, labels, split, calls)
    out, work = tmp_path / "judge.json", tmp_path / "work"
    first = _run(monkeypatch, path, out, work)
    folds = sorted(p.name for p in (work / "lm-prefix").glob("fold-*.json"))
    assert folds == [f"fold-{f:02d}.json" for f in range(4)] and (work / "lm-prefix" / "logprobs-00000.npy").is_file()
    (work / "lm-prefix" / "fold-02.json").unlink()  # as if stopped during that fold
    (work / "rules" / "fold-00.json").write_text(json.dumps(
        {**json.loads((work / "rules" / "fold-00.json").read_text()), "seconds": 123.0}))
    calls.clear()
    again = _run(monkeypatch, path, out, work)
    train = sum(s == "train" for s in split)
    assert calls and train - 3 not in calls  # the train pass came from the cache (held-out is scored again)
    cv_of = lambda result: {r["kind"]: r["cv"] for r in result["candidates"]}  # noqa: E731
    for kind in ("rules", "lm-prefix"):
        assert cv_of(again)[kind]["accuracy"] == cv_of(first)[kind]["accuracy"]
        assert cv_of(again)[kind]["confusion"] == cv_of(first)[kind]["confusion"]
    assert cv_of(again)["rules"]["per_fold"][0]["seconds"] == 123.0  # a finished fold is read back, not refitted
    assert cv_of(again)["lm-prefix"]["per_fold"][2]["seconds"] != 123.0
    with pytest.raises(InputError, match=r"manifest.json: cached for other folds \(folds differ\); pass another"):
        _run(monkeypatch, path, out, work, "--folds", "3")


def test_the_final_lm_prefix_fit_from_the_cache_equals_its_own_fit(tmp_path, monkeypatch):
    path, prompts, responses, labels, split = _labels(tmp_path)
    _fake_lm(monkeypatch, prompts, responses, labels, split, [])
    train = judge_train.load_labels(str(path), "train")
    options = {"model_name": "fake", "shots": 1, "batch_size": 4}
    cv = _judge_cv.CrossValidation(train, 4, 0, options, tmp_path / "work", n_boot=10)
    cached = cv.fit_on_train("lm-prefix", options)
    plain = judge_class("lm-prefix")(**options).fit(train.prompts, train.responses, train.verdicts)
    assert cached.to_dict() == plain.to_dict() and len(cached.examples) == 3
    np.testing.assert_allclose(cached.predict(prompts, responses).scores, plain.predict(prompts, responses).scores)


def test_cross_encoder_settings_reach_the_judge_only_when_given():
    from bench.eval import judge_choice

    args = judge_choice._parser().parse_args(["--ce-layers", "2", "--ce-epochs", "8"])
    assert judge_choice._options("cross-encoder", args) == {"tune_layers": 2, "epochs": 8}
    assert judge_choice._options("cross-encoder", judge_choice._parser().parse_args([])) == {}
    assert judge_choice._options("rules", args) == {}
    import argparse  # judge_pool's arguments have no --ce-* flags: the judge's defaults

    assert judge_choice._options("cross-encoder", argparse.Namespace()) == {}
