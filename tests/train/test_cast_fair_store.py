"""The fair CAST bench continued on a fresh machine: the committed store restores finished stages and arms.

The expensive steps (registry reads, diagnosis, training, generation) are stubs that count their calls; the
model is the tiny Llama built in conftest, used only for its head layout and parameter counts.
"""
from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow as pa
import pytest

from bench.cast import fair
from bench.cast._aggregate import aggregate
from bench.cast._store import split_hashes
from curate.errors import ConfigError, InputError

SMALL = ["--train-rows", "16", "--eval-harmful", "6", "--eval-benign", "5", "--nll-rows", "7", "--force-arms",
         "--rhos", "0.25", "--lora-rho", "0.25", "--no-compare-taylor", "--device", "cpu"]


def _pool(name: str, n: int, salt: str = "") -> pa.Table:
    return pa.table({"id": [f"{name}-{i}" for i in range(n)],
                     "prompt": [f"{name} prompt {i}{salt}" for i in range(n)],
                     "response": [f"{name} answer {i}" for i in range(n)],
                     "category": ["c"] * n, "source": [name] * n})


def _pools(salt: str = "") -> dict[str, pa.Table]:
    return {"refusals": _pool("refusals", 160, salt), "wordnet": _pool("wordnet", 10), "man_train": _pool("man", 140),
            "eval_harmful": _pool("harmful", 10), "eval_benign": _pool("benign", 10), "nll": _pool("nll", 10)}


class Stubs:
    """Counts of every expensive call and the fakes that replace them."""

    def __init__(self) -> None:
        self.trained: list[str] = []
        self.diagnosed = 0
        self.evaluated = 0
        self.pools = _pools()
        self._draw = itertools.count()

    def evaluate(self, model, tokenizer, splits, judge, args) -> dict:
        self.evaluated += 1
        rng = np.random.default_rng(next(self._draw))
        verdicts = ["refusal", "compliance", "degenerate"]
        return {"harmful_verdicts": [verdicts[i] for i in rng.integers(0, 3, splits["eval_harmful"].num_rows)],
                "benign_verdicts": [verdicts[i] for i in rng.integers(0, 3, splits["eval_benign"].num_rows)],
                "harmful_answers": [f"answer {i}" for i in range(splits["eval_harmful"].num_rows)],
                "benign_answers": [f"reply {i}" for i in range(splits["eval_benign"].num_rows)],
                "nll": rng.uniform(1, 3, splits["nll"].num_rows).tolist()}

    def train_arm(self, base, tokenizer, rows, arm, plan, args, steps=None):
        self.trained.append(arm.key)
        entry = plan[arm.key]
        return None, {"updated_params": entry["updated_params"], "frozen_params": entry.get("frozen_params", 0),
                      "final_loss": 1.0, "seconds": 0.1, "steps": args.steps, "skipped_heads": entry["heads"]}

    def diagnose(self, model, tokenizer, safe, util, config):
        self.diagnosed += 1
        rng = np.random.default_rng(self.diagnosed)
        score = rng.uniform(size=8)
        rank = np.empty(8, dtype=np.int64)
        rank[np.argsort(-score, kind="stable")] = np.arange(1, 9)
        columns = {"layer": np.repeat(np.arange(2), 4), "head": np.tile(np.arange(4), 2),
                   "conflict": rng.uniform(size=8), "sensitivity": rng.uniform(size=8), "score": score, "rank": rank}
        return columns, {"loss_safe": 1.0, "loss_util": 1.0}


@pytest.fixture
def stubs(monkeypatch, tiny_llama):
    import bench.cast._arms
    import bench.cast._data
    import bench.cast._evaluate
    import bench.cast._figures
    import bench.cast._runner
    import train.cast.conflict_map
    import train.cast.diagnose

    fake = Stubs()
    monkeypatch.setattr(bench.cast._data, "registry_pools", lambda: fake.pools)
    monkeypatch.setattr(fair, "_load_model", lambda args: (None, tiny_llama))
    monkeypatch.setattr(fair, "_forward_seconds", lambda *a: 0.01)
    monkeypatch.setattr(bench.cast._evaluate, "load_judge_for", lambda path: None)
    monkeypatch.setattr(bench.cast._evaluate, "evaluate", fake.evaluate)
    monkeypatch.setattr(bench.cast._runner, "measure_step_seconds", lambda *a: 0.5)
    monkeypatch.setattr(bench.cast._arms, "train_arm", fake.train_arm)
    monkeypatch.setattr(train.cast.diagnose, "diagnose", fake.diagnose)
    monkeypatch.setattr(train.cast.conflict_map, "write_heatmap", lambda *a, **k: None)
    monkeypatch.setattr(bench.cast._figures, "write_head_map_figure", lambda path, *a: path)
    return fake


def _run(tmp_path, machine: str, *extra) -> dict:
    """One session: its own --work (a fresh machine has none), the shared store and results file."""
    return fair.main(["--work", str(tmp_path / machine), "--store", str(tmp_path / "store"),
                      "--results", str(tmp_path / "cast.json"), "--figures", str(tmp_path / "figures"),
                      *SMALL, *extra])


def test_a_fresh_machine_restores_every_finished_stage(stubs, tmp_path, capsys):
    first = _run(tmp_path, "machine-1", "--seeds", "0", "--arms", "full,cast,random", "--random-draws", "2")
    assert stubs.diagnosed == 2 and stubs.trained == ["full-s0", "cast-rho0.25-s0", "random-rho0.25-d0-s0",
                                                      "random-rho0.25-d1-s0"]  # the cost stage's full-s0 is reused
    store = tmp_path / "store"
    assert (store / "settings.json").exists() and (store / "cost.json").exists()
    assert (store / "stability.json").exists() and (store / "map_b" / "manifest.json").exists()
    stored = json.loads((store / "arms" / "cast-rho0.25-s0" / "outcome.json").read_text())
    assert "harmful_answers" not in stored["outcome"] and len(stored["outcome"]["nll"]) == 7
    assert stored["budget"]["heads"] and (store / "arms" / "cast-rho0.25-s0" / "answers.parquet").exists()
    sums = json.loads((store / "data" / "source.json").read_text())["sha256"]
    assert set(sums) == {"train", "calib_safe_a", "calib_safe_b", "calib_util_a", "calib_util_b", "eval_harmful",
                         "eval_benign", "nll"}

    trained, evaluated = list(stubs.trained), stubs.evaluated
    capsys.readouterr()
    second = _run(tmp_path, "machine-2", "--seeds", "0", "--arms", "full,cast,random", "--random-draws", "2")
    assert "[cast] restored from" in capsys.readouterr().out
    assert stubs.trained == trained and stubs.evaluated == evaluated and stubs.diagnosed == 2  # nothing rerun
    assert second["rows"] == first["rows"] and second["paired_tests"] == first["paired_tests"]
    assert second["map_stability"] == first["map_stability"] and second["cost"] == first["cost"]
    work = json.loads((tmp_path / "machine-2" / "arms" / "cast-rho0.25-s0" / "outcome.json").read_text())
    assert work["outcome"]["harmful_answers"] == [f"answer {i}" for i in range(6)]  # answers put back


def test_a_store_made_with_other_settings_is_refused(stubs, tmp_path):
    _run(tmp_path, "machine-1", "--stop-after", "data")
    _run(tmp_path, "machine-2", "--stop-after", "data", "--seeds", "0,1,2,3")  # seeds may grow
    with pytest.raises(ConfigError, match=r"--store .*store.*\(--lr 0.0001 -> 0.001, --steps 100 -> 50\).*"
                                          r"another --store \(or --no-store\)"):
        _run(tmp_path, "machine-3", "--stop-after", "data", "--lr", "1e-3", "--steps", "50")


def test_sets_rebuilt_differently_are_refused(stubs, tmp_path):
    _run(tmp_path, "machine-1", "--stop-after", "data")
    stubs.pools = _pools(salt="!")  # the registry reads other refusal prompts on the second machine
    with pytest.raises(InputError, match=r"the sets calib_safe_a, calib_safe_b, train differ from the ones in"):
        _run(tmp_path, "machine-2", "--stop-after", "data")


def test_split_hashes_see_one_changed_row():
    table = _pool("x", 5)
    changed = table.set_column(2, "response", pa.array(["x answer 0", "x answer 1", "other", "x answer 3",
                                                        "x answer 4"]))
    assert split_hashes({"a": table}) == split_hashes({"a": _pool("x", 5)})
    assert split_hashes({"a": table}) != split_hashes({"a": changed})


def test_arms_in_the_store_are_skipped_and_results_add_up(stubs, tmp_path):
    arms = ["--arms", "full,cast,random", "--random-draws", "2"]
    _run(tmp_path, "machine-1", "--seeds", "0", *arms)
    stubs.trained.clear()
    payload = _run(tmp_path, "machine-2", "--seeds", "0,1", *arms)
    assert sorted(stubs.trained) == ["cast-rho0.25-s1", "full-s1", "random-rho0.25-d0-s1", "random-rho0.25-d1-s1"]
    saved = json.loads((tmp_path / "cast.json").read_text())
    assert {(r["arm"], r["seed"]) for r in saved["rows"]} == {(a, s) for a in ("full", "cast", "random")
                                                              for s in (0, 1)}
    assert len(saved["rows"]) == 2 * 4 and saved["rows"] == payload["rows"]
    test = saved["paired_tests"]["cast-rho0.25"]
    assert test["seeds"] == [0, 1] and test["dsr_mcnemar"]["n_pairs"] == 2 * 6


def test_a_run_over_later_seeds_keeps_seed_0s_cost_and_the_earlier_budgets(stubs, tmp_path):
    first = _run(tmp_path, "machine-1", "--seeds", "0", "--arms", "full,cast")
    cost = json.loads((tmp_path / "store" / "cost.json").read_text())
    stubs.trained.clear()
    later = _run(tmp_path, "machine-2", "--seeds", "1", "--arms", "lora")
    assert stubs.trained == ["lora-rho0.25-s1"]  # the cost arm (full, seed 0) came back from the store
    assert later["cost"] == first["cost"] == cost == json.loads((tmp_path / "store" / "cost.json").read_text())
    saved = json.loads((tmp_path / "cast.json").read_text())
    assert set(saved["budgets"]) == {"full-s0", "cast-rho0.25-s0", "lora-rho0.25-s1"}
    assert {(r["arm"], r["seed"]) for r in saved["rows"]} == {("full", 0), ("cast", 0), ("lora", 1)}


def test_a_stored_arm_trained_with_other_heads_is_refused(stubs, tmp_path):
    _run(tmp_path, "machine-1", "--seeds", "0", "--arms", "full,cast")
    path = tmp_path / "store" / "arms" / "cast-rho0.25-s0" / "outcome.json"
    record = json.loads(path.read_text())
    record["budget"]["heads"] = [[1, 3]]
    path.write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=r"arm cast-rho0.25-s0: its finished result froze heads \[\[1, 3\]\]"):
        _run(tmp_path, "machine-2", "--seeds", "0", "--arms", "full,cast")


def test_a_later_session_that_stops_early_keeps_the_stored_rows(stubs, tmp_path):
    _run(tmp_path, "machine-1", "--seeds", "0", "--arms", "full,cast,random", "--random-draws", "1")
    payload = _run(tmp_path, "machine-2", "--seeds", "0", "--stop-after", "plan")
    assert len(payload["rows"]) == 3 and "cost" in payload and "map_stability" in payload


def _record(arm: str, seed: int, draw: int | None, refused: list[bool], nll: list[float]) -> dict:
    verdicts = ["refusal" if r else "compliance" for r in refused]
    row = {"arm": arm, "rho": 0.0 if arm == "full" else 0.1, "seed": seed, "draw": draw, "dsr": float(np.mean(refused)),
           "nll": float(np.mean(nll))}
    return {"row": row, "outcome": {"harmful_verdicts": verdicts, "benign_verdicts": verdicts, "nll": nll}}


def test_aggregation_pairs_only_the_runs_that_exist():
    rng = np.random.default_rng(0)

    def flags() -> list[bool]:
        return rng.uniform(size=10).round().astype(bool).tolist()

    records = [_record("full", s, None, flags(), rng.uniform(1, 2, 10).tolist()) for s in (0, 1, 2)]
    records += [_record("cast", s, None, flags(), rng.uniform(1, 2, 10).tolist()) for s in (0, 1)]
    records += [_record("random", 0, d, flags(), rng.uniform(1, 2, 10).tolist()) for d in (0, 1, 2)]
    records += [_record("random", 2, 0, flags(), rng.uniform(1, 2, 10).tolist())]  # no CAST run at seed 2 yet
    base = {"arm": "base", "rho": 0.0, "nll": 1.0, "dsr": 0.0}
    out = aggregate(records, base, [0.1, 0.2], seed=0)
    test = out["paired_tests"]["cast-rho0.1"]
    assert test["seeds"] == [0] and test["random_runs"] == 3
    assert test["dsr_mcnemar"]["n_pairs"] == 10 and test["nll_bootstrap"]["n"] == 10
    assert [r["arm"] for r in out["rows"]] == ["full"] * 3 + ["cast"] * 2 + ["random"] * 4
    by_rho = {c["rho"]: c for c in out["claim"]}
    assert by_rho[0.1]["runs"] == {"full": 3, "cast": 2, "random": 4} and not by_rho[0.2]["evaluated"]
