"""bench.mosaic.end_to_end on the tiny model: every arm trains and is judged, the results file has every cell,
the curve and the utility, a rerun of one config replaces its entries only, and the evaluation parts are right."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.mosaic._eval import eval_sets, judge_cell, paired_tests
from bench.mosaic._results import merge_results

pytestmark = pytest.mark.skipif(not Path("/usr/share/wordnet/data.verb").exists(), reason="needs WordNet 3.0")


def _main(monkeypatch, *argv: str) -> None:
    from bench.mosaic import end_to_end

    monkeypatch.setattr(sys, "argv", ["end_to_end", *argv])
    end_to_end.main()


def test_tiny_end_to_end_writes_every_cell_curve_and_utility(monkeypatch, tmp_path, tiny_lm_model, one_torch_thread):
    results = tmp_path / "mosaic.json"
    common = ["--model", str(tiny_lm_model), "--out", str(tmp_path / "runs"), "--results", str(results),
              "--judge", "rules", "--steps", "2", "--eval-every", "1", "--per-subset", "2", "--batch-size", "4",
              "--max-length", "48", "--tokens", "1", "--n-val", "2", "--subsets", "1", "--n-eval", "4",
              "--n-utility", "4", "--n-utility-model", "4", "--new-tokens", "3", "--max-order", "2", "--pt-steps", "1"]
    _main(monkeypatch, "--config", "categories", *common)
    out = json.loads(results.read_text())
    rows = out["rows"]
    assert {r["method"] for r in rows} == {"base", "in-context", "mosaic", "per-category", "prompt-tuning"}
    assert {(r["method"], r["order"]) for r in rows} >= {("mosaic", 1), ("mosaic", 2), ("prompt-tuning", 2)}
    for row in rows:
        assert row["config"] == "categories" and row["n_pos"] == 4 and row["n_neg"] == 4
        assert 0 <= row["dsr"] <= 1 and row["dsr_ci"][0] <= row["dsr"] <= row["dsr_ci"][1]
        assert row["or_ci"][0] <= row["or"] <= row["or_ci"][1] and 0 <= row["degenerate"] <= 1
        assert row["steps"] == {"mosaic": 2, "per-category": 2, "prompt-tuning": 1}.get(row["method"])
    # one validation point per step for each curve-trained arm
    assert sorted((c["method"], c["step"]) for c in out["curve"]) == [("mosaic", 1), ("mosaic", 2),
                                                                     ("per-category", 1), ("per-category", 2)]
    assert {(u["method"], u["order"]) for u in out["utility"]} == {("mosaic", 1), ("mosaic", 2),
                                                                   ("per-category", 1), ("per-category", 2)}
    assert all(u["nll_on"] > 0 and u["n"] == 4 for u in out["utility"])
    # the second set (the model's own answers): the same (method, order) entries, bootstrap intervals, the goal
    model = out["utility_model_answers"]
    assert [(u["method"], u["order"]) for u in model] == [(u["method"], u["order"]) for u in out["utility"]]
    for u in model:
        assert u["n"] == 4 and u["change_ci_pct"][0] <= u["change_pct"] <= u["change_ci_pct"][1]
        assert u["goal_within_1pct"] in ("met", "missed", "unresolved") and u["config"] == "categories"
    (run,) = out["runs"]
    assert run["utility_model_answers"]["n"] == 4 and "sot-family" in run["utility_model_answers"]["source"]
    assert {(p["method"], p["against"]) for p in out["paired"]} == {
        ("mosaic", "in-context"), ("mosaic", "per-category"), ("mosaic", "base")}
    assert results.with_name("mosaic_curve.png").stat().st_size > 1000
    # a second run of the same config (training resumed from the saved tokens) replaces its entries, not adds
    _main(monkeypatch, "--config", "categories", "--methods", "base,mosaic", *common)
    again = json.loads(results.read_text())
    mosaic_rows = [r for r in rows if r["method"] == "mosaic"]
    assert len([r for r in again["rows"] if r["method"] == "mosaic"]) == len(mosaic_rows)
    assert len(again["rows"]) == len(rows)
    # mosaic's paired tests are its run's: the rerun compared it with base only, so older ones are gone
    assert {p["against"] for p in again["paired"]} == {"base"} and len(again["paired"]) == 2
    kept = [r for r in again["rows"] if r["method"] == "in-context"]
    assert kept == [r for r in rows if r["method"] == "in-context"]  # not rerun: kept as the first run wrote it


def test_eval_sets_cells_are_balanced_and_disjoint_within_a_cell():
    rows = ([{"prompt": f"{c}{i}", "category": c} for c in "abc" for i in range(20)]
            + [{"prompt": f"n{i}", "category": None} for i in range(30)])
    sets = eval_sets(rows, ["a", "b", "c"], 2, 8, np.random.default_rng(0), orders=(1, 2))
    assert [len(s["active"]) for s in sets] == [1, 1, 2, 2]
    for item in sets:
        assert len(item["pos"]) == 8 and all(p[0] in item["active"] for p in item["pos"])
        assert len(item["neg"]) == 8 and item["neg_kind"].count("inactive") == 4
        assert not set(item["pos"]) & set(item["neg"]) and len(set(item["pos"])) == 8


class _Verdicts:
    def __init__(self, verdicts):
        self.verdicts = verdicts

    def judge(self, prompts, answers):
        from curate.evaluation.verdicts import JudgeResult

        assert len(prompts) == len(self.verdicts)
        return JudgeResult(np.asarray(self.verdicts), np.zeros((len(prompts), 3)))


def test_judge_cell_counts_verdicts_with_wilson_intervals():
    item = {"pos": ["p1", "p2", "p3", "p4"], "neg": ["n1", "n2", "n3", "n4"],
            "neg_kind": ["neutral", "neutral", "inactive", "inactive"]}
    verdicts = ["refusal", "refusal", "refusal", "degenerate", "refusal", "compliance", "compliance", "compliance"]
    cell = judge_cell(_Verdicts(verdicts), item, ["x"] * 8)
    assert cell["dsr"] == 0.75 and cell["or"] == 0.25 and cell["or_neutral"] == 0.5 and cell["or_inactive"] == 0.0
    assert cell["degenerate"] == 1 / 8 and cell["dsr_ci"][0] < 0.75 < cell["dsr_ci"][1]
    assert cell["correct"] == [True, True, True, False, False, True, True, True]


def test_paired_tests_pair_the_same_prompts():
    def row(method, seed, correct):
        return {"method": method, "seed": seed, "order": 1, "active": ["a"], "correct": correct}

    rows = [row("mosaic", 0, [True] * 30), row("in-context", None, [False] * 30)]
    (test,) = paired_tests(rows, "mosaic", ["in-context"])
    assert test["n"] == 30 and test["b10"] == 30 and test["b01"] == 0 and test["p_value"] < 1e-6
    assert test["method"] == "mosaic" and test["test"].startswith("McNemar")


def test_merge_replaces_only_the_same_config_method_and_seed(tmp_path):
    path = tmp_path / "r.json"
    merge_results(path, {"rows": [{"config": "a", "method": "m", "seed": 0, "dsr": 0.1},
                                  {"config": "b", "method": "m", "seed": 0, "dsr": 0.2}], "runs": [{"config": "a"}]})
    merged = merge_results(path, {"rows": [{"config": "a", "method": "m", "seed": 0, "dsr": 0.9}],
                                  "runs": [{"config": "a", "x": 1}]})
    assert sorted((r["config"], r["dsr"]) for r in merged["rows"]) == [("a", 0.9), ("b", 0.2)]
    assert merged["runs"] == [{"config": "a", "x": 1}]


def test_merge_keeps_another_budget_of_the_same_seed(tmp_path):
    """A 1,250-step run of seed 0 sits beside the 360-step one; a rerun of a budget replaces only that budget."""
    path = tmp_path / "r.json"
    short = {"config": "a", "method": "m", "seed": 0, "steps": 360, "dsr": 0.5}
    run = {"config": "a", "args": {"methods": ["m"], "seeds": [0], "steps": 360}}
    merge_results(path, {"rows": [short], "runs": [run]})
    long_run = {"config": "a", "args": {"methods": ["m"], "seeds": [0], "steps": 1250}}
    merge_results(path, {"rows": [{**short, "steps": 1250, "dsr": 0.9}], "runs": [long_run]})
    merged = merge_results(path, {"rows": [{**short, "dsr": 0.6}], "runs": [run]})
    assert sorted((r["steps"], r["dsr"]) for r in merged["rows"]) == [(360, 0.6), (1250, 0.9)]
    assert len(merged["runs"]) == 2


def test_table_gives_each_budget_its_own_line():
    from bench.mosaic._eval import table

    row = {"config": "a", "method": "mosaic", "order": 1, "dsr": 1.0, "or": 0.0, "or_neutral": 0.0,
           "or_inactive": 0.0, "degenerate": 0.0, "n_pos": 10, "n_neg": 10, "n_neutral": 5, "n_inactive": 5}
    text = table([{**row, "steps": 360}, {**row, "steps": 1250, "dsr": 0.0}])
    assert "| mosaic (360 steps) | 1 | 10 / 10 | 100.0 |" in text
    assert "| mosaic (1250 steps) | 1 | 10 / 10 | 0.0 |" in text


def test_curve_point_pools_the_validation_cells_by_prompt_counts(monkeypatch):
    """Each learning-curve point: the cells' rates weighted by their prompt counts (pinned to the last bit)."""
    from bench.mosaic._arms import curve_callback
    from curate.evaluation.verdicts import JudgeResult
    from curate.lm import generation
    from train.mosaic import controller

    said = {"p": "refusal", "q": "compliance", "r": "degenerate"}  # the verdict of a prompt by its first letter

    class ByPrompt:
        def judge(self, prompts, answers):
            return JudgeResult(np.asarray([said[p[0]] for p in prompts]), np.zeros((len(prompts), 3)))

    monkeypatch.setattr(generation, "generate", lambda model, tokenizer, prompts, **_: list(prompts))
    monkeypatch.setattr(controller, "MosaicController", lambda tokens, active: None)
    cells = [{"active": ("a",), "pos": ["p1", "p2", "q1"], "neg": ["q2", "p3", "r1"], "neg_kind": ["neutral"] * 3},
             {"active": ("b",), "pos": ["p4", "r2"], "neg": ["q3", "q4", "q5", "p5"], "neg_kind": ["inactive"] * 4},
             {"active": ("a", "b"), "pos": ["q6"], "neg": ["p6", "p7"], "neg_kind": ["neutral", "inactive"]}]
    record = []
    on_step = curve_callback(cells, ByPrompt(), every=2, last=3, new_tokens=4, record=record)
    for step in (1, 2, 3):
        on_step(step, None, None, None)
    point = {"n_pos": 6, "n_neg": 9, "dsr": 0.5, "or": 0.4444444444444444, "degenerate": 0.13333333333333333}
    assert record == [{"step": 2, **point}, {"step": 3, **point}]


def test_table_pools_cells_by_prompt_counts_and_skips_empty_kinds():
    from bench.mosaic._eval import table

    def row(method, dsr, n_pos, orr, neutral, n_neutral, inactive, n_inactive, degenerate):
        return {"method": method, "order": 1, "dsr": dsr, "n_pos": n_pos, "or": orr, "n_neg": n_neutral + n_inactive,
                "or_neutral": neutral, "n_neutral": n_neutral, "or_inactive": inactive, "n_inactive": n_inactive,
                "degenerate": degenerate}

    nan = float("nan")  # the rate of a kind with no prompts in the cell
    rows = [row("mosaic", 0.5, 4, 0.25, 0.5, 2, 0.0, 2, 0.125), row("mosaic", 1.0, 2, 1 / 3, 1 / 3, 3, nan, 0, 0.0),
            row("base", 0.0, 3, 0.0, 0.0, 3, nan, 0, 1 / 6)]
    assert table(rows).splitlines()[2:] == [
        "|  | mosaic | 1 | 6 / 7 | 66.7 | 28.6 | 40.0 | 0.0 | 7.7 | 38.1 |",
        "|  | base | 1 | 3 / 3 | 0.0 | 0.0 | 0.0 | 0.0 | 16.7 | 0.0 |"]
