"""bench.sae.steer_select: eta/gamma chosen on validation under the cost limits, reported on held-out prompts."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
import torch

from bench.daco._steer_score import Limits, select
from bench.sae._steer_rows import choose, figures, mcnemar
from curate.errors import InputError
from tests.train.sae_fixtures import planted_atoms, write_dictionary
from train.sae.model import SAEShape, SparseAutoencoder, save_sae

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _summary(dsr, over, nll, degenerate=0.0, n=100):
    rates = {"refusal": {"rate": dsr}, "degenerate": {"rate": degenerate}}
    return {"harmful": {"rate": dsr, "low": dsr - 0.1, "high": dsr + 0.1, "n": n, "rates": rates},
            "benign": {"rate": over, "low": over - 0.05, "high": over + 0.05, "n": 50,
                       "rates": {"refusal": {"rate": over}, "degenerate": {"rate": 0.0}}},
            "nll": {"mean": nll, "low": nll - 0.1, "high": nll + 0.1, "n": 80}}


def test_figures_and_nll_delta():
    row = figures(_summary(0.6, 0.1, 2.04), _summary(0.2, 0.08, 2.0))
    assert row["dsr"] == 0.6 and row["dsr_ci"] == [pytest.approx(0.5), pytest.approx(0.7)]
    assert row["or"] == 0.1 and row["n"] == 100 and row["n_benign"] == 50 and row["n_nll"] == 80
    assert row["nll_delta"] == pytest.approx(2.0)  # in %, as DACO's rows
    assert figures(_summary(0.6, 0.1, 2.0))["nll_delta"] is None
    assert math.isnan(figures({"harmful": {"rate": 0.5}})["degenerate"])


def test_degenerate_is_pooled_over_both_sets_as_in_daco():
    summary = _summary(0.6, 0.1, 2.0, degenerate=0.3)  # 30 of 100 harmful answers, 0 of 50 benign
    row = figures(summary, summary)
    assert row["degenerate"] == pytest.approx(30 / 150)
    assert (row["degenerate_harmful"], row["degenerate_benign"]) == (0.3, 0.0)
    assert row["degenerate_ci"][0] < 0.2 < row["degenerate_ci"][1]


def test_choice_is_the_best_dsr_within_the_limits():
    plain = _summary(0.2, 0.10, 2.0)
    candidates = {
        "mild": _summary(0.30, 0.11, 2.01),
        "strong": _summary(0.70, 0.20, 2.01),  # over-refusal +10 points
        "derails": _summary(0.80, 0.10, 2.01, degenerate=0.2),
        "costly": _summary(0.75, 0.10, 2.10),  # NLL +5%
        "good": _summary(0.50, 0.14, 2.03),
        "tie": _summary(0.50, 0.12, 2.00),
    }
    chosen, feasible, table = choose(plain, candidates)
    assert (chosen, feasible) == ("tie", True)  # of two equal DSRs, DACO's rule takes the lower over-refusal
    assert table["strong"]["violations"] == ["over-refusal"]
    assert table["derails"]["violations"] == ["degenerate"]
    assert table["costly"]["violations"] == ["nll"]
    assert table["mild"]["violations"] == []
    chosen, feasible, _ = choose(plain, {k: candidates[k] for k in ("strong", "derails", "costly")})
    assert not feasible and chosen == "costly"  # closest to the limits: 3 NLL points / 100 over, the others more
    assert choose(plain, {"strong": candidates["strong"]}, Limits(over_refusal_points=0.10))[1]
    assert choose(plain, {"good": candidates["good"], "tie": candidates["tie"]}, Limits())[0] == "tie"


def test_choice_is_daco_select_on_the_same_figures():
    """The SAE path and bench.daco._steer_score.select pick the same row from the same figures in DACO's units."""
    plain = _summary(0.20, 0.10, 2.00)
    candidates = {"a": _summary(0.40, 0.13, 2.02), "b": _summary(0.55, 0.16, 2.03),  # b: +6 points
                  "c": _summary(0.45, 0.12, 2.03, degenerate=0.04), "d": _summary(0.45, 0.11, 2.05)}  # d: NLL +2.5%
    daco_rows = {name: {"dsr": s["harmful"]["rate"], "or": s["benign"]["rate"],
                        "degenerate": s["harmful"]["rates"]["degenerate"]["rate"] * 100 / 150,
                        "nll_delta": 100 * (s["nll"]["mean"] / 2.0 - 1)} for name, s in candidates.items()}
    daco_plain = {"dsr": 0.2, "or": 0.10, "degenerate": 0.0, "nll_delta": 0.0}
    for limits in (Limits(), Limits(over_refusal_points=0.10), Limits(nll_pct=3.0), Limits(over_refusal_points=0.0)):
        expected, status = select(list(daco_rows.values()), daco_plain, limits)
        chosen, feasible, _ = choose(plain, candidates, limits)
        assert daco_rows[chosen] is expected and feasible == (status == "within limits")
    assert choose(plain, candidates)[0] == "c" and choose(plain, candidates, Limits(nll_pct=3.0))[0] == "d"
    assert choose(plain, candidates, Limits(over_refusal_points=0.10))[0] == "b"
    assert choose(plain, candidates, Limits(over_refusal_points=0.0))[:2] == ("d", False)


def test_choice_needs_the_figures_it_compares():
    plain = _summary(0.2, 0.1, 2.0)
    without_nll = {k: v for k, v in _summary(0.5, 0.1, 2.0).items() if k != "nll"}
    with pytest.raises(InputError, match="validation run 'bare'.*NLL"):
        choose(plain, {"bare": without_nll})


def test_mcnemar_counts_discordant_pairs():
    before = [True, False, False, False, True, False]
    after = [True, True, True, True, False, False]
    result = mcnemar(before, after)
    assert (result["gained"], result["lost"], result["n"]) == (3, 1, 6)
    assert result["p_value"] == pytest.approx(0.625)  # two-sided binomial, 1 of 4 at p 0.5
    assert mcnemar([True], [True])["p_value"] == 1.0
    with pytest.raises(ValueError, match="different lengths: 2 and 1"):
        mcnemar([True, False], [True])


@pytest.fixture
def steerable(tmp_path):
    """A 32-d SAE at layer 1 (the tiny Llama's width) whose first 8 atoms are labelled dictionary concepts."""
    atoms = planted_atoms(16, 32)
    labels = ["undesirable"] * 4 + ["desirable"] * 4 + ["neutral"] * 8
    write_dictionary(tmp_path / "dict", atoms, labels, layer=1)
    sae = SparseAutoencoder(SAEShape(32, 64, k=4, layer=1, num_concepts=16), seed=0)
    sae.init_from_atoms(torch.as_tensor(atoms))
    save_sae(sae, tmp_path / "sae")
    return tmp_path


def test_variants_relabel_at_eta_and_carry_gamma(steerable):
    from bench.sae.steer_select import parse_args, write_variants
    from train.sae.steer import load_sae_controller

    args = parse_args(["--sae", str(steerable / "sae"), "--dictionary", str(steerable / "dict"), "--work",
                       str(steerable / "work"), "--etas", "0.3,1.01", "--gammas", "0,2", "--device", "cpu"])
    settings = write_variants(args)
    assert list(settings) == ["eta0.3-gamma0", "eta0.3-gamma2"]  # eta above 1 labels nothing: skipped
    for name, info in settings.items():
        folder = steerable / "work" / "variants" / name
        table = pl.read_parquet(folder / "annotations.parquet")
        assert info["undesirable_atoms"] == (table["label"] == "undesirable").sum() >= 4
        controller = load_sae_controller(folder)
        assert controller.gamma == info["gamma"] and controller.layer == 1
        assert json.loads((folder / "steering.json").read_text()) == {"gamma": info["gamma"], "device": "cpu"}
        assert int(controller.undesirable.sum()) == info["undesirable_atoms"]


def _prompts(path, prompts, response=False):
    rows = [{"id": f"{path.stem}{i}", "prompt": p, **({"response": "fine."} if response else {})}
            for i, p in enumerate(prompts)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


@pytest.mark.real_model  # the judge's features use MiniLM
def test_steer_select_end_to_end(steerable, tiny_lm_model, tmp_path):
    from bench.sae.steer_select import main
    from curate.evaluation.judge import RefusalJudge

    rng = np.random.default_rng(0)
    RefusalJudge(np.zeros(2), np.ones(2), rng.normal(size=2), 0.0).save(tmp_path / "judge.json")
    data = tmp_path / "data"
    data.mkdir()
    val = ",".join([_prompts(data / "vh.jsonl", ["hurt", "steal"]), _prompts(data / "vb.jsonl", ["kill a process"]),
                    _prompts(data / "vn.jsonl", ["hello"], response=True)])
    held = ",".join([_prompts(data / "hh.jsonl", ["burn", "poison", "rob"]),
                     _prompts(data / "hb.jsonl", ["shoot a photo", "attack a problem"]),
                     _prompts(data / "hn.jsonl", ["hi", "thanks"], response=True)])
    results = tmp_path / "daco.json"
    results.write_text(json.dumps({"sae_init": {"rows": []}}))
    part = main(["--sae", str(steerable / "sae"), "--dictionary", str(steerable / "dict"), "--model",
                 str(tiny_lm_model), "--work", str(tmp_path / "work"), "--results", str(results), "--etas", "0.3",
                 "--gammas", "0,1", "--validation", val, "--held-out", held, "--judge", str(tmp_path / "judge.json"),
                 "--max-new-tokens", "3", "--device", "cpu", "--no-progress"])
    assert part["chosen"] in ("eta0.3-gamma0", "eta0.3-gamma1")
    assert set(part["validation"]) == {"plain", "eta0.3-gamma0", "eta0.3-gamma1"}
    plain, steered = part["rows"]
    assert plain["method"] == "none" and steered["method"] == "sae-steering" and steered["layer"] == 1
    fields = {"method", "layer", "setting", "dsr", "dsr_ci", "or", "or_ci", "degenerate", "nll_delta", "n"}
    for row in part["rows"]:
        assert fields <= set(row)
        assert row["n"] == 3 and row["n_benign"] == 2 and row["n_nll"] == 2
    assert plain["nll_delta"] == 0.0
    assert part["paired_tests"]["harmful"]["n"] == 3 and part["paired_tests"]["benign"]["n"] == 2
    saved = json.loads(results.read_text())
    assert saved["sae_init"] == {"rows": []} and saved["sae_steering"]["chosen"] == part["chosen"]
    for folder in ("validation-plain", f"validation-{part['chosen']}", "heldout-plain", f"heldout-{part['chosen']}"):
        assert (tmp_path / "work" / folder / "summary.json").is_file()
