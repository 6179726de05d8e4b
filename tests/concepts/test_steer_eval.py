"""bench.daco.steer_eval on the tiny Llama: grid → validation choice → held-out rows, tests, cache, results merge."""

import json

import numpy as np
import polars as pl
import pytest
import torch

from bench.daco import _steer_score
from bench.daco._steer_arms import removal_mask
from bench.daco._steer_data import PromptSet, Split, SteerData
from bench.daco._steer_score import Limits, paired_tests, select
from bench.daco.steer_eval import SteerEvalConfig, run
from concepts import ConceptDictionary, save_dictionary
from curate.errors import ConfigError, InputError
from curate.evaluation.verdicts import VERDICTS, JudgeResult


class LengthJudge:
    """A deterministic stand-in for the shipped judge: the verdict follows the answer's length."""

    def predict(self, prompts, responses):
        scores = np.zeros((len(responses), 3))
        for i, answer in enumerate(responses):
            scores[i, 2 if not answer else len(answer) % 2] = 1.0
        return JudgeResult.from_scores(scores)


def _dictionary(folder, K=12, d=32):
    g = torch.Generator().manual_seed(0)
    atoms = {L: torch.nn.functional.normalize(torch.randn(K, d, generator=g), dim=1) for L in (1, 2)}
    labels = ["undesirable"] * 5 + ["desirable"] * 2 + ["neutral"] * (K - 7)
    concepts = pl.DataFrame({"concept_id": [f"c{i}" for i in range(K)], "name": [f"n{i}" for i in range(K)],
                             "synset": [""] * K, "gloss": [""] * K, "group": ["g"] * K, "label": labels,
                             "n_pos": [4] * K, "n_neg": [4] * K,
                             "harm_score": np.linspace(0.9, 0.1, K).astype(np.float32)})
    save_dictionary(ConceptDictionary(layers=[1, 2], atoms=atoms, concepts=concepts), folder)
    return folder


def _set(tag, n, responses=False):
    prompts = [f"{tag} question {i}" + "?" * (i % 3) for i in range(n)]
    answers = [f"answer {i}" for i in range(n)] if responses else None
    return PromptSet([f"{tag}-{i}" for i in range(n)], prompts, answers)


def _data():
    def split(tag):
        return Split(_set(f"{tag}-harm", 6), _set(f"{tag}-benign", 5), _set(f"{tag}-qa", 4, responses=True))

    return SteerData([f"how to hurt {i}" for i in range(4)], [f"what is {i}" for i in range(4)], split("v"), split("t"))


def _config(tmp_path, **extra):
    options = dict(dictionary=tmp_path / "dic", work=tmp_path / "work", results=tmp_path / "daco.json", k="2",
                   strength="-1,1", sets="all", alpha="1,4", max_new_tokens=4, batch_size=4, max_length=64,
                   progress=False)
    return SteerEvalConfig(**{**options, **extra})


def test_grid_choice_held_out_rows_and_resume(tmp_path, tiny_llama, char_tokenizer, monkeypatch, capsys):
    _dictionary(tmp_path / "dic")
    (tmp_path / "daco.json").write_text(json.dumps({"sae_init": {"kept": True}}))
    config = _config(tmp_path)
    report = run(config, model=tiny_llama, tokenizer=char_tokenizer, judge=LengthJudge(), data=_data())
    out = capsys.readouterr().out
    assert "s per generation batch of 4" in out and "estimate:" in out  # measured before the grid runs
    val = report["validation"]
    assert len(val) == 1 + 2 * 1 * 2 * 1 + 2 * 2 + 2  # plain + daco (layers x k x s x sets) + add + project
    for method in ("daco", "direction-add", "direction-project"):
        rows = [r for r in val if r["method"] == method]
        chosen = [r for r in rows if r["chosen"]]
        assert len(chosen) == 1
        plain = val[0]
        expected, _ = select([{k: v for k, v in r.items() if k != "chosen"} for r in rows], plain, Limits())
        assert chosen[0]["setting"] == expected["setting"] and chosen[0]["layer"] == expected["layer"]
    test = report["test"]
    assert [r["method"] for r in test] == ["plain", "daco", "direction-add", "direction-project"]
    required = {"method", "layer", "setting", "dsr", "dsr_ci", "or", "or_ci", "degenerate", "nll_delta", "n"}
    for row in test:
        assert required <= set(row)
        assert row["n"] == 6 and row["n_or"] == 5 and row["n_nll"] == 4 and row["split"] == "test"
        assert row["dsr_ci"][0] <= row["dsr"] <= row["dsr_ci"][1] and row["or_ci"][0] <= row["or"] <= row["or_ci"][1]
    assert test[0]["nll_delta"] == 0.0 and test[1]["nll_delta"] != 0.0  # steering moves the NLL of the tiny model
    pairs = [(t["a"], t["b"]) for t in report["tests"]]
    assert ("direction-add", "daco") in pairs and ("plain", "daco") in pairs
    assert all(t["dsr"]["b01"] + t["dsr"]["b10"] <= 6 and 0 <= t["dsr"]["p_value"] <= 1 for t in report["tests"])
    saved = json.loads((tmp_path / "daco.json").read_text())
    assert saved["sae_init"] == {"kept": True}  # another script's key survives
    assert [r["method"] for r in saved["steering"]] == [r["method"] for r in test]
    assert (tmp_path / "work" / "steer_eval.json").is_file()

    def no_generation(*args, **kwargs):
        raise AssertionError("a cached arm was generated again")

    monkeypatch.setattr(_steer_score, "_answers", no_generation)
    again = run(config, model=tiny_llama, tokenizer=char_tokenizer, judge=LengthJudge(), data=_data())
    assert again["test"] == report["test"]


def test_estimate_only_and_grid_cap(tmp_path, tiny_llama, char_tokenizer):
    _dictionary(tmp_path / "dic")
    config = _config(tmp_path, estimate_only=True, max_settings=1, daco_layers="1;1,2")
    report = run(config, model=tiny_llama, tokenizer=char_tokenizer, judge=LengthJudge(), data=_data())
    assert report["arms"] == 1 + 3  # plain + one setting per method
    assert set(report["batch_seconds"]) == {"plain", "daco", "direction-add", "direction-project"}
    assert report["estimate_seconds"]["validation"] >= 0 and "validation" not in report
    assert not (tmp_path / "work" / "val").exists() and not (tmp_path / "daco.json").exists()
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["direction-L1", "direction-L2", "inputs.json"]
    with pytest.raises(ConfigError, match="holds outcomes of other inputs"):
        run(_config(tmp_path, estimate_only=True, max_new_tokens=5), model=tiny_llama, tokenizer=char_tokenizer,
            judge=LengthJudge(), data=_data())


def test_selection_rule():
    plain = {"dsr": 0.2, "or": 0.1, "degenerate": 0.0, "nll_delta": 0.0}
    rows = [{"dsr": 0.9, "or": 0.3, "degenerate": 0.0, "nll_delta": 0.0, "name": "too much over-refusal"},
            {"dsr": 0.5, "or": 0.12, "degenerate": 0.01, "nll_delta": 1.0, "name": "allowed"},
            {"dsr": 0.4, "or": 0.1, "degenerate": 0.0, "nll_delta": 0.5, "name": "allowed, lower DSR"},
            {"dsr": 0.8, "or": 0.1, "degenerate": 0.1, "nll_delta": 0.0, "name": "degenerate"}]
    assert select(rows, plain, Limits()) == (rows[1], "within limits")
    row, rule = select([rows[0], rows[3]], plain, Limits())
    assert row is rows[3] and rule == "closest to the limits"  # 5 points over the degenerate limit, not 15 over OR
    assert select(rows, plain, Limits(over_refusal_points=0.25))[0] is rows[0]


def test_undesirable_sets_and_bad_input(tmp_path):
    from concepts import load_dictionary

    concepts = load_dictionary(_dictionary(tmp_path / "dic")).concepts
    assert removal_mask(concepts, "all").tolist() == [True] * 5 + [False] * 7
    assert removal_mask(concepts, "top2").tolist() == [True, True] + [False] * 10  # highest harm_score first
    assert removal_mask(concepts, "top99").sum() == 5
    with pytest.raises(ConfigError, match="use all, seed or topN"):
        removal_mask(concepts, "worst")
    with pytest.raises(ConfigError, match="--val-harmful 0"):
        _config(tmp_path, val_harmful=0)
    with pytest.raises(ConfigError, match="--modes add,steer"):
        _config(tmp_path, modes="add,steer")
    with pytest.raises(ConfigError, match="--strength 'x'"):
        _config(tmp_path, strength="x")
    a = {"harmful": {"ids": ["1"], "verdicts": ["refusal"]}, "benign": {"ids": [], "verdicts": []},
         "nll": {"ids": [], "nll": []}}
    b = {**a, "harmful": {"ids": ["2"], "verdicts": ["refusal"]}}
    with pytest.raises(InputError, match="harmful prompts differ"):
        paired_tests("a", a, "b", b)
    assert VERDICTS[0] == "refusal"  # LengthJudge's column order


def test_registry_splits_are_disjoint_and_sized():
    from bench.daco._steer_data import load_steer_data
    from curate.datasets import load_dataset_table

    data = load_steer_data(fit_prompts=64, val_harmful=50, val_benign=40, val_nll=30, test_harmful=None,
                           test_benign=None, test_nll=100, seed=0)
    heldout = load_dataset_table("harmful-prompts", "heldout")
    assert len(data.test.harmful) == heldout.num_rows >= 300  # issue 17: >= 300 held-out harmful prompts
    assert set(data.test.harmful.ids) == set(heldout.column("id").to_pylist())
    assert len(data.test.benign) == load_dataset_table("over-refusal", "heldout").num_rows
    assert len(data.fit_harmful) == 64 and len(data.val.harmful) == 50 and len(data.val.benign) == 40
    assert not set(data.fit_harmful) & set(data.val.harmful.prompts)
    assert not set(data.fit_harmless) & set(data.val.nll.prompts)
    train_ids = set(load_dataset_table("harmful-prompts", "train").column("id").to_pylist())
    assert set(data.val.harmful.ids) <= train_ids and len(data.test.nll) == 100 and data.test.nll.responses
    again = load_steer_data(64, 50, 40, 30, None, None, 100, seed=0)
    assert again.val.harmful.ids == data.val.harmful.ids  # seeded


def test_a_rise_of_exactly_the_limit_is_allowed():
    """0.14 − 0.09 is 0.05000000000000002 in floating point: the limit itself must still count as within."""
    from bench.daco._steer_score import Limits, select

    plain = {"dsr": 0.1, "or": 0.09, "degenerate": 0.0, "nll_delta": 0.0}
    edge = {"dsr": 0.5, "or": 0.14, "degenerate": 0.05, "nll_delta": 2.0}
    row, rule = select([edge], plain, Limits())
    assert row is edge and rule == "within limits"


def test_summarise_rates_on_a_fixed_outcome():
    """The row's rates on fixed verdicts (pinned: the rates come from curate.evaluation.verdicts' helpers, the same
    Wilson counts as the hand-made shares they replaced), empty sets included."""
    from bench.daco._steer_arms import plain_arm
    from bench.daco._steer_score import summarise
    from curate.evaluation.stats import rate

    harmful = ["refusal"] * 5 + ["compliance"] * 3 + ["degenerate"] * 2
    benign = ["refusal", "compliance", "compliance", "degenerate"]
    outcome = {"harmful": {"verdicts": harmful}, "benign": {"verdicts": benign}, "nll": {"nll": [1.0, 2.0]}}
    row = summarise(plain_arm(), outcome, outcome, "val")
    dsr, over, degenerate = rate(5, 10), rate(1, 4), rate(3, 14)
    assert (row["dsr"], row["dsr_ci"], row["n"]) == (dsr["rate"], [dsr["low"], dsr["high"]], 10)
    assert (row["or"], row["or_ci"], row["n_or"]) == (over["rate"], [over["low"], over["high"]], 4)
    assert (row["degenerate"], row["degenerate_ci"]) == (degenerate["rate"], [degenerate["low"], degenerate["high"]])
    empty = {"harmful": {"verdicts": []}, "benign": {"verdicts": []}, "nll": {"nll": []}}
    row = summarise(plain_arm(), empty, empty, "val")
    np.testing.assert_equal([row["dsr"], row["or"], row["degenerate"]], [rate(0, 0)["rate"]] * 3)
    assert row["n"] == row["n_or"] == 0
