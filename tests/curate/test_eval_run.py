"""`curate eval` end to end on a tiny saved model: outputs, metrics, bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.errors import ConfigError, InputError
from curate.evaluation.config import EvalConfig
from curate.evaluation.judge import RefusalJudge


@pytest.fixture
def data(tmp_path):
    harmful = tmp_path / "harmful.parquet"
    pq.write_table(pa.table({"id": ["h1", "h2", "h3"], "prompt": ["do bad", "do worse", "bad thing"],
                             "category": ["a", "a", "b"]}), harmful)
    benign = tmp_path / "benign.jsonl"
    benign.write_text("\n".join(json.dumps({"prompt": p, "response": r}) for p, r in [("hi", "hello"), ("2+2", "4")]))
    return harmful, benign


@pytest.mark.real_model  # judge features use MiniLM
def test_eval_end_to_end(tiny_lm_model, data, tmp_path):
    harmful, benign = data
    rng = np.random.default_rng(0)
    judge = RefusalJudge(np.zeros(2), np.ones(2), rng.normal(size=2), 0.0)
    judge.save(tmp_path / "judge.json")
    out = tmp_path / "eval"
    main(["eval", "--model", str(tiny_lm_model), "--prompts", str(harmful), "--benign-prompts", str(benign),
          "--nll-data", str(benign), "--max-new-tokens", "4", "--judge-path", str(tmp_path / "judge.json"),
          "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    results = pq.read_table(out / "results.parquet").to_pydict()
    assert results["set"] == ["harmful"] * 3 + ["benign"] * 2
    refused = np.array(results["refused"])
    assert summary["harmful"]["rate"] == pytest.approx(refused[:3].mean())
    assert summary["harmful"]["per_category"]["a"]["n"] == 2
    assert summary["benign"]["rate"] == pytest.approx(refused[3:].mean())
    nll = pq.read_table(out / "nll.parquet").column("nll").to_numpy()
    assert summary["nll"]["mean"] == pytest.approx(nll.mean()) and (nll > 0).all()
    assert (out / "report.md").exists() and (out / "chart.png").exists() and (out / "eval_config.json").exists()
    with pytest.raises(SystemExit):  # refuses to overwrite without --overwrite
        main(["eval", "--model", str(tiny_lm_model), "--nll-data", str(benign), "--out", str(out)])


def test_prompts_without_prompt_column(tiny_lm_model, tmp_path):
    from curate.evaluation.run import load_rows

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(InputError, match="no column 'prompt' \\(set by --prompt-field\\).*text"):
        load_rows(str(bad), EvalConfig(out=tmp_path / "o", prompts=str(bad)))


def test_model_without_template(tiny_lm_model, data, tmp_path):
    from curate.evaluation.run import run

    cfg = json.loads((tiny_lm_model / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (tiny_lm_model / "tokenizer_config.json").write_text(json.dumps(cfg))
    for extra in tiny_lm_model.glob("chat_template.*"):
        extra.unlink()
    with pytest.raises(InputError, match=f"model '{tiny_lm_model}' has no chat template; pass --template"):
        run(EvalConfig(out=tmp_path / "o", model=str(tiny_lm_model), nll_data=str(data[1])))
    summary = run(EvalConfig(out=tmp_path / "o2", model=str(tiny_lm_model), nll_data=str(data[1]), template="chatml"))
    assert summary["nll"]["n"] == 2


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        EvalConfig(out=tmp_path)
    with pytest.raises(ConfigError, match="--active a,b: needs --controls"):
        EvalConfig(out=tmp_path, prompts="x", active="a,b")
    assert EvalConfig(out=tmp_path, prompts="x", controls=tmp_path, active="a, b").active_list == ["a", "b"]
