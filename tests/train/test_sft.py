"""Weighted SFT: response-only loss, exact zero-weight invariance, accumulation, resume, bad input."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from curate.errors import ConfigError, InputError
from curate.lm.chat import tokenize_pairs
from train.sft import SFTConfig, fit

ROWS = [
    {"prompt": "hi", "response": "hello there"},
    {"prompt": "2+2?", "response": "4"},
    {"prompt": "say no", "response": "no"},
    {"prompt": "name a fruit", "response": "apple"},
    {"prompt": "bad", "response": "zzzz qqqq"},
]


def _cfg(tmp_path: Path, **kw) -> SFTConfig:
    base = dict(data="unused", out=tmp_path, lr=1e-2, batch_size=2, max_length=64, seed=0)
    base.update(kw)
    return SFTConfig(**base)


def _params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict, atol: float = 0.0) -> bool:
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


def test_labels_cover_only_the_response(char_tokenizer):
    ids, mask, labels = tokenize_pairs(char_tokenizer, ["hi", "longer prompt"], ["ok", "x"], 64)
    for row in range(2):
        labelled = ids[row][labels[row] != -100]
        text = char_tokenizer.decode(labelled)
        assert text.startswith(["ok", "x"][row]) and "<|im_end|>" in text
        assert (labels[row][mask[row] == 0] == -100).all()


def test_zero_weight_row_changes_nothing(tiny_llama, char_tokenizer, tmp_path):
    a = copy.deepcopy(tiny_llama)
    cfg = _cfg(tmp_path, max_steps=3, batch_size=2)
    weights = np.array([1.0, 0.5, 2.0, 1.0, 0.0])
    fit(a, char_tokenizer, ROWS, cfg, weights=weights)
    # the same run with the zero-weight row dropped beforehand
    import pyarrow as pa

    from train.sft.data import rows_and_weights

    table = pa.Table.from_pylist([dict(r, w=w) for r, w in zip(ROWS, weights)])
    rows, w = rows_and_weights(table, _cfg(tmp_path, weight_column="w"), "t")
    assert len(rows) == 4 and list(w) == [1.0, 0.5, 2.0, 1.0]
    # fit() itself keeps a zero-weight row in its batches: its gradient must be exactly zero
    c = copy.deepcopy(tiny_llama)
    garbage = [dict(r) for r in ROWS]
    garbage[4] = {"prompt": "other", "response": "completely different text"}
    fit(c, char_tokenizer, garbage, cfg, weights=weights)
    assert _same(_params(a), _params(c))
    assert not _same(_params(a), _params(tiny_llama), atol=1e-6)


def test_weights_scale_loss(tiny_llama, char_tokenizer, tmp_path):
    a, b = copy.deepcopy(tiny_llama), copy.deepcopy(tiny_llama)
    fit(a, char_tokenizer, ROWS[:2], _cfg(tmp_path, max_steps=1), weights=[1.0, 1.0])
    fit(b, char_tokenizer, ROWS[:2], _cfg(tmp_path, max_steps=1), weights=[1.0, 3.0])
    assert not _same(_params(a), _params(b), atol=1e-7)


def test_accumulation_equals_big_batch(tiny_llama, char_tokenizer, tmp_path):
    a, b = copy.deepcopy(tiny_llama), copy.deepcopy(tiny_llama)
    fit(a, char_tokenizer, ROWS[:4], _cfg(tmp_path, max_steps=1, batch_size=4, grad_accum=1, lr=1e-3))
    fit(b, char_tokenizer, ROWS[:4], _cfg(tmp_path, max_steps=1, batch_size=2, grad_accum=2, lr=1e-3))
    assert _same(_params(a), _params(b), atol=1e-6)


def test_resume_matches_uninterrupted(tiny_llama, char_tokenizer, tmp_path):
    full = copy.deepcopy(tiny_llama)
    fit(full, char_tokenizer, ROWS, _cfg(tmp_path / "full", max_steps=5))

    class Stop(Exception):
        pass

    calls = {"n": 0}

    def interrupt(model):
        calls["n"] += 1
        if calls["n"] == 3:  # third backward = step 3, after the step-2 checkpoint
            raise Stop

    broken = copy.deepcopy(tiny_llama)
    cfg = _cfg(tmp_path / "resumed", max_steps=5, save_every=1)
    with pytest.raises(Stop):
        fit(broken, char_tokenizer, ROWS, cfg, after_backward=interrupt)
    resumed = copy.deepcopy(tiny_llama)  # a fresh process: weights come from the checkpoint
    metrics = fit(resumed, char_tokenizer, ROWS, cfg)
    assert metrics["resumed_from_step"] == 2
    assert _same(_params(full), _params(resumed), atol=1e-6)


def test_trainable_predicate_freezes_others(tiny_llama, char_tokenizer, tmp_path):
    before = _params(tiny_llama)
    fit(tiny_llama, char_tokenizer, ROWS, _cfg(tmp_path, max_steps=2), trainable=lambda n, p: "lm_head" in n)
    after = _params(tiny_llama)
    assert not torch.equal(before["lm_head.weight"], after["lm_head.weight"])
    assert all(torch.equal(before[k], after[k]) for k in before if "lm_head" not in k)


@pytest.mark.parametrize("values, match", [([1.0, -0.5], "negative"), ([1.0, float("nan")], "NaN")])
def test_bad_weight_column(values, match, tmp_path):
    import pyarrow as pa

    from train.sft.data import rows_and_weights

    table = pa.table({"prompt": ["a", "b"], "response": ["c", "d"], "w": values})
    with pytest.raises(InputError, match=match):
        rows_and_weights(table, _cfg(tmp_path, weight_column="w"), "t")
    with pytest.raises(InputError, match="--weight-column sot_weight: no such column"):
        rows_and_weights(table, _cfg(tmp_path, weight_column="sot_weight"), "t")


def test_topk_and_resample(tmp_path):
    import pyarrow as pa

    from train.sft.data import rows_and_weights

    table = pa.table({"prompt": list("abcd"), "response": list("efgh"), "w": [0.1, 3.0, 0.0, 0.9]})
    rows, w = rows_and_weights(table, _cfg(tmp_path, weight_column="w", mode="topk", top_fraction=0.5), "t")
    assert [r["prompt"] for r in rows] == ["b", "d"] and (w == 1).all()
    rows, _ = rows_and_weights(table, _cfg(tmp_path, weight_column="w", mode="resample"), "t")
    assert len(rows) == 4 and "c" not in {r["prompt"] for r in rows}
    with pytest.raises(InputError, match="no 'keep' column"):
        rows_and_weights(table, _cfg(tmp_path, weight_column="w", mode="topk"), "t")


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="--lora -1"):
        _cfg(tmp_path, lora=-1)
    with pytest.raises(ConfigError, match="--top-fraction needs --mode topk"):
        _cfg(tmp_path, top_fraction=0.5)
    with pytest.raises(ConfigError, match="--batch-size 0"):
        _cfg(tmp_path, batch_size=0)


def _save_tiny(tiny_llama, char_tokenizer, folder):
    tiny_llama.save_pretrained(folder)
    char_tokenizer.save_pretrained(folder)
    return folder


def test_cli_run_saves_loadable_model(tiny_llama, char_tokenizer, tmp_path):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.cli import main
    from curate.models import load_causal_lm

    model_dir = _save_tiny(tiny_llama, char_tokenizer, tmp_path / "tiny")
    data = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([dict(r, sot_weight=w) for r, w in zip(ROWS, [1, 1, 1, 2, 0])]), data)
    out = tmp_path / "out"
    main(["train", "sft", "--model", str(model_dir), "--data", str(data), "--weight-column", "sot_weight",
          "--max-steps", "2", "--batch-size", "2", "--lr", "1e-2", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["examples"] == 4 and metrics["rows_in"] == 5
    assert json.loads((out / "sft_config.json").read_text())["weight_column"] == "sot_weight"
    _, trained = load_causal_lm(str(out))
    assert not torch.equal(trained.lm_head.weight, tiny_llama.lm_head.weight)
    with pytest.raises(SystemExit):
        main(["train", "sft", "--model", str(model_dir), "--data", str(data), "--out", str(out)])


def test_lora_trains_only_adapters(tiny_llama, char_tokenizer, tmp_path):
    pytest.importorskip("peft")
    import json

    from train.sft import run

    model_dir = _save_tiny(tiny_llama, char_tokenizer, tmp_path / "tiny")
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS))
    metrics = run(SFTConfig(data=str(data), out=tmp_path / "out", model=str(model_dir), lora=4, max_steps=2,
                            batch_size=2, lr=1e-2))
    full = sum(p.numel() for p in tiny_llama.parameters())
    assert 0 < metrics["trainable_params"] < full / 4
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").exists()


def test_train_last_freezes_lower_blocks(tiny_llama, char_tokenizer, tmp_path):
    from train.sft.run import last_blocks

    before = _params(tiny_llama)
    fit(tiny_llama, char_tokenizer, ROWS, _cfg(tmp_path, max_steps=2), trainable=last_blocks(tiny_llama, 1))
    after = _params(tiny_llama)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("model.layers.1.") or k == "model.norm.weight" for k in changed)
    with pytest.raises(ConfigError, match="--train-last 5: the model has only 2"):
        last_blocks(tiny_llama, 5)
    with pytest.raises(ConfigError, match="--train-last and --lora"):
        _cfg(tmp_path, train_last=2, lora=4)
