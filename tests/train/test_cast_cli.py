"""`curate diagnose-heads` -> `curate train cast` round trip on a tiny saved Llama, and CLI bad input."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch

from curate.cli import main

SAFE = [{"prompt": f"how do I hurt {w}", "response": "I can't help with that."} for w in ("him", "her", "them", "it")]
UTIL = [{"prompt": f"what is {w}", "response": f"{w} is a kind of thing."} for w in ("a cat", "rain", "tea", "salt")]


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


@pytest.fixture
def files(tmp_path):
    return _jsonl(tmp_path / "safe.jsonl", SAFE), _jsonl(tmp_path / "util.jsonl", UTIL), \
        _jsonl(tmp_path / "train.jsonl", SAFE + UTIL)


def _diagnose(model, safe, util, out, *extra):
    main(["diagnose-heads", "--model", str(model), "--safe", safe, "--util", util, "--batches", "2",
          "--batch-size", "2", "--max-length", "48", "--out", str(out), *extra])


def _train(model, data, cmap, out, *extra):
    main(["train", "cast", "--model", str(model), "--data", data, "--conflict-map", str(cmap), "--max-steps", "2",
          "--batch-size", "2", "--max-length", "48", "--lr", "0.01", "--out", str(out), *extra])


def test_round_trip(tiny_lm_model, files, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from curate.models import model_fingerprint

    safe, util, train = files
    _diagnose(tiny_lm_model, safe, util, tmp_path / "map")
    table = pq.read_table(tmp_path / "map" / "conflict_map.parquet")
    assert {"layer", "head", "conflict", "sensitivity", "score", "rank"} <= set(table.column_names)
    assert table.num_rows == 8
    manifest = json.loads((tmp_path / "map" / "manifest.json").read_text())
    assert manifest["model_fingerprint"] == model_fingerprint(str(tiny_lm_model))
    assert manifest["sensitivity"] == "ablation"
    for png in ("conflict.png", "sensitivity.png", "score.png"):
        assert (tmp_path / "map" / png).read_bytes()[:4] == b"\x89PNG"
    assert "diagnosed 8 heads" in capsys.readouterr().out

    _train(tiny_lm_model, train, tmp_path / "map", tmp_path / "ft", "--skip-fraction", "0.25")
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    ranks = dict(zip(zip(table.column("layer").to_pylist(), table.column("head").to_pylist()),
                     table.column("rank").to_pylist()))
    skipped = [tuple(h) for h in metrics["skipped_heads"]]
    assert sorted(ranks[h] for h in skipped) == [1, 2]  # the two top-score heads
    before = AutoModelForCausalLM.from_pretrained(tiny_lm_model)
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "ft")
    hd = 8
    for layer, head in skipped:
        for proj, dim in (("q_proj", 0), ("o_proj", 1)):
            name = f"model.layers.{layer}.self_attn.{proj}.weight"
            a, b = before.state_dict()[name], after.state_dict()[name]
            assert torch.equal(a.narrow(dim, head * hd, hd), b.narrow(dim, head * hd, hd))
            assert not torch.equal(a, b)
    assert (tmp_path / "ft" / "cast_config.json").exists()


def test_cli_bad_input(tiny_lm_model, files, tmp_path, capsys):
    from transformers import GPT2Config, GPT2LMHeadModel

    safe, util, train = files
    _diagnose(tiny_lm_model, safe, util, tmp_path / "map", "--sensitivity", "taylor")
    capsys.readouterr()
    # a map from another model: same architecture, different weights
    other = tmp_path / "other"
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=128))
    model.save_pretrained(other)
    from transformers import AutoModelForCausalLM

    changed = AutoModelForCausalLM.from_pretrained(tiny_lm_model)
    with torch.no_grad():
        changed.model.layers[0].self_attn.q_proj.weight.add_(1.0)
    changed.save_pretrained(tmp_path / "changed")
    for f in tiny_lm_model.glob("*token*"):
        (tmp_path / "changed" / f.name).write_bytes(f.read_bytes())
        (other / f.name).write_bytes(f.read_bytes())
    cases = [
        (lambda: _train(tmp_path / "changed", train, tmp_path / "map", tmp_path / "a"), "was computed for model"),
        (lambda: _train(tiny_lm_model, train, tmp_path / "nomap", tmp_path / "b"), "no conflict_map.parquet there"),
        (lambda: _train(tiny_lm_model, train, tmp_path / "map", tmp_path / "c", "--skip-fraction", "1.5"),
         "--skip-fraction 1.5: must be in"),
        (lambda: _diagnose(other, safe, util, tmp_path / "d"),
         "CAST needs a Llama-like decoder (q_proj/k_proj/v_proj/o_proj"),
        (lambda: _diagnose(tiny_lm_model, safe, util, tmp_path / "e", "--batches", "3"), "needs 6"),
    ]
    for call, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            call()
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
