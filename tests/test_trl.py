"""`curate export --schema trl` output goes straight into TRL's SFTTrainer (the README's "Into TRL" code)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.errors import ConfigError, InputError
from tests.conftest import has_package
from transport.export import ExportConfig
from transport.schema import apply_schema

needs_trl = pytest.mark.skipif(not (has_package("trl") and has_package("peft")),
                               reason="needs trl and peft: pip install -e '.[test]'")

LABELS = ("is_harmful", "kind", "pull_potential", "push_potential", "keep")


@pytest.fixture
def weighted(tmp_path):
    """A small `curate sot-weight` output: 16 rows, 4 harmful with low weights, labels and diagnostics."""
    n = 16
    weights = np.r_[np.full(4, 0.1), np.linspace(0.8, 1.4, n - 4)]
    weights *= n / weights.sum()
    table = pa.table({
        "id": [f"row-{i:02d}" for i in range(n)],
        "prompt": [f"What is item {i}?" for i in range(n)],
        "response": [f"Item {i} is a thing." if i else None for i in range(n)],
        "category": ["harm" if i < 4 else "food" for i in range(n)],
        "is_harmful": [i < 4 for i in range(n)], "kind": ["dialogue" if i < 4 else "qa" for i in range(n)],
        "sot_weight": weights, "pull_potential": -weights, "push_potential": weights, "keep": weights > 0.5,
    })
    path = tmp_path / "weighted.parquet"
    pq.write_table(table, path)
    return path


def export(weighted, out, *options: str):
    main(["export", str(weighted), "--out", str(out), *options])
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_trl_schema_keeps_text_and_id_and_drops_labels(weighted, tmp_path):
    rows = export(weighted, tmp_path / "all.jsonl", "--schema", "trl")
    assert list(rows[0]) == ["id", "prompt", "completion", "sot_weight"]
    assert rows[0]["completion"] == "" and rows[1]["completion"] == "Item 1 is a thing."  # a null answer is empty
    top = export(weighted, tmp_path / "top.jsonl", "--schema", "trl", "--mode", "topk")
    assert list(top[0]) == ["id", "prompt", "completion"]  # Top-K rows train uniformly: no weight column
    assert [r["id"] for r in top] == [f"row-{i:02d}" for i in range(4, 16)]
    kept = export(weighted, tmp_path / "kept.jsonl", "--schema", "trl", "--keep-columns")
    assert set(LABELS) | {"category"} <= set(kept[0]) and "response" not in kept[0]


def test_trl_messages_schema_has_user_and_assistant_turns(weighted, tmp_path):
    rows = export(weighted, tmp_path / "messages.jsonl", "--schema", "trl-messages", "--mode", "resample",
                  "--n", "5")
    assert list(rows[0]) == ["id", "messages"]
    assert [[turn["role"] for turn in r["messages"]] for r in rows] == [["user", "assistant"]] * 5
    assert rows[0]["messages"][0]["content"].startswith("What is item")


def test_schema_errors_name_the_fix(weighted, tmp_path):
    with pytest.raises(ConfigError, match="--keep-columns needs --schema trl"):
        ExportConfig(weighted, tmp_path / "x.jsonl", keep_columns=True)
    with pytest.raises(InputError, match="no 'response' column.*--schema plain"):
        apply_schema(pa.table({"prompt": ["p"], "sot_weight": [1.0]}), "trl", source="w.parquet")
    plain = pa.table({"prompt": ["p"], "is_harmful": [True]})
    assert apply_schema(plain, "plain") is plain


def _trainer(dataset_path, tiny_lm_model, tmp_path, name: str, **kwargs):
    """The README's code: the exported JSONL as a datasets table, TRL's SFTConfig and SFTTrainer, two steps."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    trainer_class = kwargs.pop("trainer_class", SFTTrainer)
    dataset = load_dataset("json", data_files=str(dataset_path), split="train", cache_dir=str(tmp_path / "hf"))
    args = SFTConfig(output_dir=str(tmp_path / name), max_steps=2, per_device_train_batch_size=4, max_length=64,
                     logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, seed=0)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_model)
    return trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, **kwargs)


def _train_two_steps(trainer) -> list[float]:
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert trainer.state.global_step == 2 and len(losses) == 2 and np.isfinite(losses).all()
    after = dict(trainer.model.named_parameters())
    assert any(not np.allclose(before[n].numpy(), after[n].detach().numpy()) for n in before)
    return losses


@needs_trl
def test_sft_trainer_on_resampled_and_weighted_exports(weighted, tmp_path, tiny_lm_model, one_torch_thread):
    from torch.utils.data import WeightedRandomSampler
    from trl import SFTTrainer

    from transport import weighted_sampler

    export(weighted, tmp_path / "resampled.jsonl", "--schema", "trl", "--mode", "resample", "--seed", "0")
    _train_two_steps(_trainer(tmp_path / "resampled.jsonl", tiny_lm_model, tmp_path, "resampled"))

    # TRL takes no per-example loss weight; a weighted sampler over the file-ordered weights export does the same
    # in expectation (the sampler reads the weights from the sot-weight Parquet, whose row order the export keeps).
    class WeightedSFTTrainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset=None):
            return weighted_sampler(weighted, seed=0)

    rows = export(weighted, tmp_path / "weights.jsonl", "--schema", "trl")
    trainer = _trainer(tmp_path / "weights.jsonl", tiny_lm_model, tmp_path, "weights",
                       trainer_class=WeightedSFTTrainer)
    assert len(trainer.train_dataset) == len(rows)  # no row dropped, so sampler index i is still row i
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, WeightedRandomSampler)
    assert np.allclose(sampler.weights.numpy(), [r["sot_weight"] for r in rows])
    _train_two_steps(trainer)


@needs_trl
def test_sft_trainer_with_lora_on_the_topk_export(weighted, tmp_path, tiny_lm_model, one_torch_thread):
    from peft import LoraConfig

    export(weighted, tmp_path / "top.jsonl", "--schema", "trl", "--mode", "topk")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = _trainer(tmp_path / "top.jsonl", tiny_lm_model, tmp_path, "topk", peft_config=lora)
    assert len(trainer.train_dataset) == 12  # the Top-K rows, the four harmful ones gone
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    _train_two_steps(trainer)
