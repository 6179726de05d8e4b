"""`curate eval compare A B` on tiny hand-made eval folders, and the `curate eval` group's default invocation."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.evaluation.metrics import nll_summary, set_summary
from curate.evaluation.stats import mcnemar, paired_bootstrap


def write_eval(folder, harmful: list[bool] | None, benign: list[bool] | None, nll: list[float] | None,
               order: np.ndarray | None = None, id_prefix: str = "p"):
    """An eval folder as `curate eval` writes it: summary.json, results.parquet, nll.parquet."""
    folder.mkdir(parents=True)
    columns = {"id": [], "prompt": [], "category": [], "set": [], "response": [], "refused": [], "judge_score": []}
    for kind, flags in (("harmful", harmful), ("benign", benign)):
        for i, flag in enumerate(flags or []):
            columns["id"].append(f"{id_prefix}{kind[0]}{i}")
            columns["prompt"].append(f"{kind} prompt {i}")
            columns["category"].append("a" if i % 2 else "b")
            columns["set"].append(kind)
            columns["response"].append("no" if flag else "sure")
            columns["refused"].append(flag)
            columns["judge_score"].append(0.9 if flag else 0.1)
    if columns["id"]:
        table = pa.table(columns)
        pq.write_table(table.take(order) if order is not None else table, folder / "results.parquet")
    if nll is not None:
        pq.write_table(pa.table({"id": [f"n{i}" for i in range(len(nll))], "category": [None] * len(nll),
                                 "nll": nll}), folder / "nll.parquet")
    (folder / "summary.json").write_text(json.dumps({"model": folder.name}))
    return folder


@pytest.fixture
def arms(tmp_path):
    rng = np.random.default_rng(0)
    harm_a, harm_b = rng.random(40) < 0.3, rng.random(40) < 0.7
    benign_a, benign_b = rng.random(12) < 0.2, rng.random(12) < 0.2
    nll_a = rng.normal(2.0, 0.3, size=30)
    nll_b = nll_a + 0.2 + rng.normal(0, 0.05, size=30)
    a = write_eval(tmp_path / "a", harm_a.tolist(), benign_a.tolist(), nll_a.tolist())
    # B's rows in another order: the join is on id, not on position
    b = write_eval(tmp_path / "b", harm_b.tolist(), benign_b.tolist(), nll_b.tolist(), order=rng.permutation(52))
    return a, b, (harm_a, harm_b, benign_a, benign_b, nll_a, nll_b)


def test_compare_joins_on_id_and_tests_pairs(arms, tmp_path, capsys):
    a, b, (harm_a, harm_b, benign_a, benign_b, nll_a, nll_b) = arms
    main(["eval", "compare", str(a), str(b), "--out", str(tmp_path / "cmp.json"), "--n-boot", "2000"])
    result = json.loads((tmp_path / "cmp.json").read_text())
    dsr, over = result["rates"]
    assert (dsr["label"], over["label"]) == ("DSR", "over-refusal")
    assert dsr["a"]["k"] == harm_a.sum() and dsr["b"]["k"] == harm_b.sum() and dsr["n"] == 40
    assert dsr["diff"] == pytest.approx(harm_b.mean() - harm_a.mean())
    assert dsr["mcnemar"] == pytest.approx(mcnemar(harm_a, harm_b))
    assert over["mcnemar"] == pytest.approx(mcnemar(benign_a, benign_b))
    boot = result["nll"]["bootstrap"]
    assert boot == pytest.approx(paired_bootstrap(nll_b, nll_a, n_boot=2000))
    assert boot["p_value"] < 0.01 and boot["low"] > 0.15
    assert result["nll"]["a"] == pytest.approx(nll_summary(nll_a))
    printed = capsys.readouterr().out
    assert "DSR (n=40)" in printed and f"{dsr['mcnemar']['p_value']:.3g} (McNemar" in printed
    assert "benign NLL (n=30)" in printed and "paired bootstrap" in printed


def test_compare_with_itself_finds_no_difference(arms):
    from curate.evaluation.compare import compare, load_eval_output

    a = load_eval_output(arms[0], "A")
    result = compare(a, a, n_boot=500)
    assert all(r["diff"] == 0 and r["mcnemar"]["p_value"] == 1.0 for r in result["rates"])
    assert result["nll"]["bootstrap"]["mean_diff"] == 0 and result["nll"]["bootstrap"]["p_value"] == 1.0


def _error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_not_an_eval_folder(arms, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = _error(capsys, ["eval", "compare", str(arms[0]), str(tmp_path / "empty")])
    assert f"B {tmp_path / 'empty'}: not a `curate eval` output (no summary.json)" in err
    assert len(err.strip().splitlines()) == 1


def test_prompt_sets_differ(arms, tmp_path, capsys):
    other = write_eval(tmp_path / "c", [True] * 38 + [False] * 2, [False] * 12, [2.0] * 30)
    ids = pq.read_table(other / "results.parquet").to_pydict()
    ids["id"][0], ids["id"][1] = "new-1", "new-2"
    pq.write_table(pa.table(ids), other / "results.parquet")
    err = _error(capsys, ["eval", "compare", str(arms[0]), str(other)])
    assert "harmful prompts: the prompt sets differ (2 ids only in A" in err and "2 only in B" in err


def test_b_lacks_a_rate(arms, tmp_path, capsys):
    harmful_only = write_eval(tmp_path / "c", [True] * 40, None, [2.0] * 30)
    err = _error(capsys, ["eval", "compare", str(arms[0]), str(harmful_only)])
    assert f"B {harmful_only}: lacks the rate over-refusal (benign prompts" in err
    no_nll = write_eval(tmp_path / "d", [True] * 40, [False] * 12, None)
    err = _error(capsys, ["eval", "compare", str(arms[0]), str(no_nll)])
    assert f"B {no_nll}: has no nll.parquet" in err


def test_extra_rate_in_b_is_reported_not_compared(arms, tmp_path):
    from curate.evaluation.compare import compare, format_comparison, load_eval_output

    harmful_only = write_eval(tmp_path / "c", [True] * 40, None, None)
    result = compare(load_eval_output(harmful_only, "A"), load_eval_output(arms[1], "B"), n_boot=100)
    assert [r["label"] for r in result["rates"]] == ["DSR"] and result["nll"] is None
    assert result["only_in_b"] == ["over-refusal", "benign NLL"]
    assert "only in B, not compared: over-refusal, benign NLL" in format_comparison(result)


def test_eval_default_invocation_unchanged(monkeypatch, tmp_path, capsys):
    import importlib

    # the module itself: `import curate.evaluation.run as m` would give the lazily exported function `run`
    eval_run = importlib.import_module("curate.evaluation.run")

    seen = {}

    def fake_run(config):
        seen["config"] = config
        return {"harmful": set_summary({"refused": [True] * 270 + [False] * 48}),
                "nll": nll_summary([2.0, 2.5, 3.0])}

    monkeypatch.setattr(eval_run, "run", fake_run)
    main(["eval", "--prompts", "x.jsonl", "--max-new-tokens", "8", "--out", str(tmp_path / "o")])
    assert seen["config"].prompts == "x.jsonl" and seen["config"].max_new_tokens == 8
    assert seen["config"].out == tmp_path / "o"
    printed = capsys.readouterr().out
    assert printed.startswith("DSR 84.9% [80.6, 88.4] (270/318); benign NLL 2.5000 [")
    assert _error(capsys, ["eval", "--prompts", "x.jsonl"]).strip().endswith("Missing option '--out'.")
    assert "options of `curate eval` itself" in _error(capsys, ["eval", "--prompts", "x", "compare", "a", "b"])
