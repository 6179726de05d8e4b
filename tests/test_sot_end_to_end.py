"""bench.sot.end_to_end on the benchmark family: same rows and batches for every arm, the oracle's zero weights kept
in the schedule, resume and settings checks, gap-closure arithmetic and the paired tests' wiring. A tiny Llama and a
stub judge stand in for SmolLM2 and the shipped judge; no registry table is read."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from bench.sot import _e2e_compare as compare
from bench.sot._e2e_arms import Arm, arm_list, finished, result_path, settings_hash
from bench.sot._e2e_data import Data, held_out, stratified_subset
from bench.sot._e2e_weights import method_weights, normalised
from curate.errors import ConfigError


def _train_table(n: int = 20, harmful: int = 4) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(n)], "prompt": [f"ask {i}" for i in range(n)],
                     "response": [f"ans {i}" for i in range(n)], "is_harmful": [i < harmful for i in range(n)],
                     "kind": ["harmful" if i < harmful else "benign" for i in range(n)]})


def _fake_data() -> Data:
    def prompts(prefix: str, n: int = 4, response: bool = False) -> pa.Table:
        columns = {"id": [f"{prefix}{i}" for i in range(n)], "prompt": [f"{prefix} q{i}" for i in range(n)],
                   "category": [None] * n}
        if response:
            columns["response"] = [f"a{i}" for i in range(n)]
        else:
            columns["origin"] = ["heldout"] * n
        return pa.table(columns)

    align = pa.table({"id": ["a0", "a1"], "prompt": ["no", "hi"], "response": ["Sorry.", "Hello."],
                      "kind": ["refusal", "benign"]})
    return Data(train={5: _train_table()}, align=align, eval_harmful=prompts("h"), eval_benign=prompts("b"),
                nll_task=prompts("t", response=True), nll_general=prompts("g", response=True))


# ---------------------------------------------------------------- weights and schedule


def test_oracle_keeps_every_row_with_zero_weight_and_weights_have_mean_one(tmp_path):
    table = _train_table()
    uniform = method_weights("uniform", 5, table, {}, tmp_path)
    oracle = method_weights("oracle", 5, table, {}, tmp_path)
    harmful = np.asarray(table.column("is_harmful").to_pylist())
    assert uniform.shape == oracle.shape == (table.num_rows,)
    assert (oracle[harmful] == 0).all() and np.allclose(oracle[~harmful], 20 / 16)
    assert oracle.mean() == pytest.approx(1.0) and uniform.mean() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not all zero"):
        normalised(np.zeros(3))


def test_family_weights_are_taken_by_id_from_family_weigh_at_its_validation_choice(tmp_path, monkeypatch):
    from bench.sot import family
    from bench.sot._e2e_weights import family_choice
    from curate.datasets.sot_family import data_key

    rows = [{"rate": 5, "method": "heuristic", "setting": {"features": "minilm-joint", "anchor": "benign"},
             "temperature": 0.5}]
    results = tmp_path / "sot_family.json"
    results.write_text(json.dumps({"family": data_key(), "rows": rows}))
    choice = family_choice(results, 5, "heuristic")
    assert choice["setting"]["features"] == "minilm-joint" and choice["temperature"] == 0.5
    assert family_choice(results, 5, "oracle") == {"setting": {}, "temperature": None}
    with pytest.raises(ConfigError, match="no row for sot at 5%"):
        family_choice(results, 5, "sot")
    results.write_text(json.dumps({"family": "sot-family=other", "rows": rows}))
    with pytest.raises(ConfigError, match="rerun `python -m bench.sot.family`"):
        family_choice(results, 5, "heuristic")

    table = _train_table()
    corpus_order = [f"r{i}" for i in reversed(range(20))]  # the family's table, in another order
    calls = []

    def weigh(split, rate, method, setting, work, temperature=None):
        calls.append((split, rate, method, setting["features"], temperature))
        return np.arange(20, 0, -1, dtype=float), None  # weight of r{i} = i + 1

    monkeypatch.setattr(family, "weigh", weigh)
    monkeypatch.setattr(family, "_features", lambda name, feature, work: (None, pa.table({"id": corpus_order})))
    weights = method_weights("heuristic", 5, table, choice, tmp_path)
    assert calls == [("test", 5, "heuristic", "minilm-joint", 0.5)]
    expected = np.arange(1, 21, dtype=float)
    assert np.allclose(weights, expected / expected.mean())
    assert np.allclose(method_weights("heuristic", 5, table, choice, tmp_path), weights) and len(calls) == 1  # cached


def test_every_arm_sees_the_same_batches_and_zero_weights_stay_in_them(tiny_lm_model, one_torch_thread,
                                                                       monkeypatch):
    import torch

    import train._loop as loop
    from bench.sot._e2e_arms import train_arm

    seen: list[list[tuple[str, float]]] = []
    real = loop._weighted_loss

    def recording(model, tokenizer, batch, w, config, n_step):
        seen.append([(r["prompt"], float(x)) for r, x in zip(batch, w.tolist())])
        return real(model, tokenizer, batch, w, config, n_step)

    monkeypatch.setattr(loop, "_weighted_loss", recording)
    table = _train_table()
    rows = table.select(["prompt", "response"]).to_pylist()
    settings = {"ft_steps": 6, "ft_lr": 1e-3, "batch_size": 4, "max_length": 64, "train_last": 1, "system": None}
    weights = {m: method_weights(m, 5, table, {}, None) for m in ("uniform", "oracle")}
    batches = {}
    for method, w in weights.items():
        seen.clear()
        model, _, metrics = train_arm(str(tiny_lm_model), rows, w, settings, seed=3, device=torch.device("cpu"))
        assert metrics["steps"] == 6 and metrics["examples"] == table.num_rows  # nothing dropped
        batches[method] = [[prompt for prompt, _ in b] for b in seen]
        if method == "oracle":
            zero = [prompt for b in seen for prompt, x in b if x == 0.0]
            assert zero and set(zero) <= {f"ask {i}" for i in range(4)}  # harmful rows, present at weight 0
    assert batches["uniform"] == batches["oracle"] and len(batches["uniform"]) == 6


def test_arms_put_uniform_and_oracle_first_in_each_rate_and_seed():
    arms = arm_list([5, 10], ["sot", "oracle", "heuristic", "uniform"], [0, 1])
    assert len(arms) == 16
    assert [a.method for a in arms[:4]] == ["uniform", "oracle", "sot", "heuristic"]
    assert {(a.rate, a.seed) for a in arms[:4]} == {(5, 0)}


# ---------------------------------------------------------------- data


def test_held_out_leaves_out_corpus_prompts_and_tops_up_from_train():
    heldout = [{"id": f"h{i}", "prompt": f"Held {i}"} for i in range(6)]
    spare = [{"id": f"t{i}", "prompt": f"Spare {i}"} for i in range(6)] + [{"id": "dup", "prompt": "held 0"}]
    rows = held_out(heldout, spare, excluded={"held 1", "spare 2"}, n=8, seed=0)
    prompts = [r["prompt"] for r in rows]
    assert len(rows) == 8 and len(set(p.lower() for p in prompts)) == 8
    assert "Held 1" not in prompts and "Spare 2" not in prompts
    assert [r["origin"] for r in rows] == ["heldout"] * 5 + ["train"] * 3
    assert held_out(heldout, spare, set(), n=3, seed=0) == held_out(heldout, spare, set(), n=3, seed=0)
    assert all(r["origin"] == "heldout" for r in held_out(heldout, spare, set(), n=3, seed=1))


def test_stratified_subset_keeps_the_rate_and_is_the_same_for_every_call():
    table = _train_table(100, 10)
    subset = stratified_subset(table, 40, seed=0)
    assert subset.num_rows == 40 and sum(subset.column("is_harmful").to_pylist()) == 4
    assert subset.column("id").to_pylist() == stratified_subset(table, 40, seed=0).column("id").to_pylist()
    assert stratified_subset(table, None, seed=0) is table


# ---------------------------------------------------------------- gap closure and paired tests


def _outcome(compliant: list[bool], nll: list[float], ids: list[str] | None = None) -> dict:
    ids = ids or [f"p{i}" for i in range(len(compliant))]
    verdicts = ["compliance" if c else "refusal" for c in compliant]
    return {"harmful": {"ids": ids, "verdicts": verdicts}, "benign": {"ids": ["b0", "b1"], "verdicts": ["refusal",
            "compliance"]}, "nll_task": {"ids": [f"t{i}" for i in range(len(nll))], "nll": nll},
            "nll_general": {"ids": [f"g{i}" for i in range(len(nll))], "nll": nll}}


def _flags(k: int, n: int = 20) -> list[bool]:
    return [i < k for i in range(n)]


def test_gap_closure_is_the_share_of_the_uniform_to_oracle_gap():
    uniform = {0: _outcome(_flags(10), [1.0] * 5), 1: _outcome(_flags(12), [1.0] * 5)}
    oracle = {0: _outcome(_flags(2), [1.0] * 5), 1: _outcome(_flags(2), [1.0] * 5)}
    method = {0: _outcome(_flags(4), [1.0] * 5), 1: _outcome(_flags(8), [1.0] * 5)}
    gap = compare.gap_closure(uniform, method, oracle, reps=300, seed=0)
    assert gap["per_seed"][0]["gap_closed"] == pytest.approx((10 - 4) / (10 - 2))
    assert gap["per_seed"][1]["gap_closed"] == pytest.approx((12 - 8) / (12 - 2))
    assert gap["pooled"]["gap_closed"] == pytest.approx((11 - 6) / (11 - 2))  # seed means, not a mean of ratios
    assert gap["pooled"]["low"] <= gap["pooled"]["gap_closed"] <= gap["pooled"]["high"]
    assert gap["pooled"]["uniform"] == pytest.approx(11 / 20) and gap["seeds"] == [0, 1]
    no_gap = compare.gap_closure(uniform, method, uniform, reps=50)
    assert np.isnan(no_gap["pooled"]["gap_closed"]) and no_gap["pooled"]["undefined_draws"] == 50


def test_paired_tests_count_discordant_prompts_per_seed_and_pooled():
    from scipy.stats import binomtest

    sot = {s: _outcome(_flags(3), [1.0, 1.1, 0.9, 1.0]) for s in (0, 1)}
    uniform = {s: _outcome(_flags(8), [1.2, 1.1, 1.0, 1.3]) for s in (0, 1, 2)}
    tests = compare.paired_tests(sot, uniform, n_boot=500)
    assert tests["seeds"] == [0, 1]  # seed 2 has no SOT arm to pair with
    one = tests["per_seed"][0]["harmful_compliance"]
    assert (one["b01"], one["b10"], one["n_pairs"]) == (5, 0, 20)  # uniform complies on 5 prompts SOT refuses
    assert one["exact_p"] == pytest.approx(binomtest(0, 5, 0.5).pvalue)
    pooled = tests["pooled"]
    assert pooled["harmful_compliance"]["n_pairs"] == 40 and pooled["harmful_compliance"]["b01"] == 10
    assert pooled["nll_task"]["n"] == 8 and pooled["nll_task"]["mean_diff"] == pytest.approx(-0.15)
    shifted = {0: _outcome(_flags(3), [1.0] * 4, ids=[f"x{i}" for i in range(20)])}
    with pytest.raises(ValueError, match="different harmful rows"):
        compare.paired_tests(shifted, uniform)


def test_aggregate_checks_the_goal_on_pooled_gap_and_task_nll():
    from bench.sot._e2e_table import markdown as markdown_of

    def result(method: str, seed: int, k: int, nll: float) -> dict:
        return {"arm": {"rate": 5, "method": method, "seed": seed}, "outcome": _outcome(_flags(k), [nll] * 6)}

    results = [result("uniform", s, 10, 1.00) for s in (0, 1)] + [result("oracle", s, 0, 1.00) for s in (0, 1)]
    met = compare.aggregate(results + [result("sot", s, 2, 1.01) for s in (0, 1)], reps=100, n_boot=200)
    assert met[5]["goal"]["met"] and met[5]["goal"]["gap_closed"] == pytest.approx(0.8)
    assert met[5]["goal"]["nll_task_change_pct"] == pytest.approx(1.0)
    assert set(met[5]["sot_vs"]) == {"uniform", "oracle"}
    gap = met[5]["gap_exists"]["pooled"]["harmful_compliance"]  # oracle against uniform: 10 of 20 prompts, 2 seeds
    assert (gap["b01"], gap["b10"], gap["n_pairs"]) == (20, 0, 40)
    assert "uniform complies where the oracle refuses on 20 prompts" in markdown_of(met)
    costly = compare.aggregate(results + [result("sot", s, 2, 1.05) for s in (0, 1)], reps=100, n_boot=200)
    assert not costly[5]["goal"]["met"]  # +5% NLL
    assert "| 5% | sot | 2 |" in markdown_of(met) and "met" in markdown_of(met)


# ---------------------------------------------------------------- resume across sessions


def test_a_finished_arm_is_skipped_and_a_changed_setting_names_its_flag(tmp_path):
    arm = Arm(5, "sot", 0)
    settings = {"ft_steps": 200, "ft_lr": 1e-4, "choice": {"setting": {"eps": 0.1}, "temperature": None}}
    assert finished(tmp_path, arm, settings) is None
    result_path(tmp_path, arm).write_text(json.dumps({"settings": settings, "settings_hash": settings_hash(settings)}))
    assert finished(tmp_path, arm, settings)["settings"] == settings
    with pytest.raises(ConfigError, match="--ft-steps: 200 -> 300"):
        finished(tmp_path, arm, settings | {"ft_steps": 300})
    with pytest.raises(ConfigError, match="sot_family.json"):
        finished(tmp_path, arm, settings | {"choice": {"setting": {"eps": 0.05}, "temperature": None}})


class _StubJudge:
    """Compliance when the answer has an even length: deterministic, and both verdicts occur."""

    def predict(self, prompts, answers):
        from curate.evaluation.verdicts import JudgeResult

        return JudgeResult.from_scores(np.array([[0.0, 1.0, 0.0] if len(a) % 2 == 0 else [1.0, 0.0, 0.0]
                                                 for a in answers]))


def test_main_plans_runs_arms_writes_results_then_resumes_without_training(tiny_lm_model, tmp_path, capsys,
                                                                           one_torch_thread, monkeypatch):
    import bench.sot._e2e_arms as arms
    import bench.sot._e2e_data as data_module
    import curate.evaluation.judges.artefact as artefact
    from bench.sot import end_to_end

    monkeypatch.setattr(data_module, "build", lambda rates, sizes: _fake_data())
    monkeypatch.setattr(artefact, "default_judge", lambda: _StubJudge())
    argv = ["--model", str(tiny_lm_model), "--work", str(tmp_path / "work"), "--results-dir", str(tmp_path / "arms"),
            "--results", str(tmp_path / "e2e.json"), "--family-results", str(tmp_path / "none.json"),
            "--rates", "5", "--seeds", "0,1", "--methods", "uniform,oracle", "--align-rows", "2", "--align-steps",
            "1", "--ft-steps", "2", "--batch-size", "4", "--max-length", "48", "--max-new-tokens", "3",
            "--train-last", "1", "--device", "cpu", "--bootstrap", "20"]
    end_to_end.main(argv + ["--stop-after", "plan", "--timing-steps", "1"])
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plan["arms_to_run"] == 4 and plan["step_s"] > 0 and plan["total_s"] > 4 * 2 * plan["step_s"]
    assert not (tmp_path / "arms").exists()  # the plan trains and writes no arm
    end_to_end.main(argv)
    files = sorted(p.name for p in (tmp_path / "arms").glob("*.json"))
    assert files == ["rate5-oracle-seed0.json", "rate5-oracle-seed1.json", "rate5-uniform-seed0.json",
                     "rate5-uniform-seed1.json"]
    stored = json.loads((tmp_path / "arms" / "rate5-oracle-seed0.json").read_text())
    assert stored["weights"]["zero_weight_rows"] == 4 and stored["train"]["examples"] == 20
    assert len(stored["outcome"]["harmful"]["verdicts"]) == 4 and len(stored["outcome"]["nll_task"]["nll"]) == 4
    assert len(stored["outcome"]["harmful"]["answers"]) == 4  # kept for re-judging and labelling
    summary = json.loads((tmp_path / "e2e.json").read_text())
    assert summary["summary"]["5"]["pooled"]["uniform"]["seeds"] == [0, 1]
    assert set(summary["summary"]["5"]["sot_vs"]) == set()  # no SOT arm yet
    assert (tmp_path / "e2e.md").read_text().startswith("| rate | method |")

    def no_training(*args, **kwargs):
        raise AssertionError("a finished arm was trained again")

    train_arm = arms.train_arm
    monkeypatch.setattr(arms, "train_arm", no_training)
    end_to_end.main(argv)  # every arm finished: nothing is trained
    with pytest.raises(ConfigError, match="--ft-lr"):
        end_to_end.main(argv + ["--ft-lr", "3e-4"])

    other = tmp_path / "arms" / "rate5-uniform-seed1.json"  # as if trained from another machine's aligned model
    other.write_text(json.dumps(json.loads(other.read_text()) | {"aligned_digest": "0123456789abcdef"}))
    trained = []

    def recording(start, rows, weights, settings, seed, device, steps=None):
        trained.append(seed)
        return train_arm(start, rows, weights, settings, seed, device, steps)

    monkeypatch.setattr(arms, "train_arm", recording)
    end_to_end.main(argv)  # without the flag the stored arm is kept, and the aggregate names both start models
    assert trained == [] and len(json.loads((tmp_path / "e2e.json").read_text())["aligned_digests"]) == 2
    end_to_end.main(argv + ["--rerun-other-start"])
    assert trained == [1]  # only that arm, from this machine's aligned model
    assert json.loads(other.read_text())["aligned_digest"] == stored["aligned_digest"]
    assert len(json.loads((tmp_path / "e2e.json").read_text())["aligned_digests"]) == 1
