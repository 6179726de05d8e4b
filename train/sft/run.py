"""`curate train sft` end to end: load, (LoRA-)wrap, fit, save the model, metrics and resolved config."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curate.config import save_config
from curate.device import apply_threads, resolve_device
from curate.errors import ConfigError, require
from curate.io import atomic_write_text, check_output, give_default_mode, require_columns
from curate.lm.chat import ensure_chat_template
from curate.lm.layers import decoder_layers
from curate.models import load_causal_lm
from embed import open_input
from train._loop import fit
from train.sft.data import rows_and_weights

__all__ = ["run", "last_blocks", "TrainingInputs", "refuse_finished_run", "load_training_inputs", "save_trained"]


def _wrap_lora(model, rank: int, seed: int):
    peft = require("peft", extra="lora")
    torch.manual_seed(seed)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    config = peft.LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                             target_modules=[t for t in targets if t in present] or "all-linear")
    return peft.get_peft_model(model, config)


def last_blocks(model, n: int):
    """A `trainable` predicate for fit(): the last n decoder blocks and the final norm."""
    import re

    blocks = decoder_layers(model)
    depth = len(blocks)
    if n > depth:
        raise ConfigError(f"--train-last {n}: the model has only {depth} decoder blocks")
    # parameter names start with the blocks' own path: model.layers.3. (Llama), transformer.h.3. (GPT-2), ...
    prefix = next(name for name, module in model.named_modules() if module is blocks)
    block_index = re.compile(re.escape(prefix) + r"\.(\d+)\.")

    def trainable(name: str, _param) -> bool:
        match = block_index.match(name)
        if match:
            return int(match.group(1)) >= depth - n
        return name.endswith("model.norm.weight") or name == "norm.weight"

    return trainable


@dataclass
class TrainingInputs:
    """What a trainer on a prompt/response table starts from (shared by `train sft` and `train cast`)."""

    table: Any
    rows: list[dict]
    weights: np.ndarray
    device: torch.device
    tokenizer: Any
    model: Any


def refuse_finished_run(config) -> None:
    """metrics.json is written last, so its presence means a finished run; replace it only with --overwrite."""
    if (config.out / "metrics.json").exists() and not config.overwrite:
        raise ConfigError(f"--out {config.out}: already holds a finished run; pass --overwrite or choose another "
                          "folder")


def load_training_inputs(config) -> TrainingInputs:
    """Read and check the table, apply its weighting mode, then load the model in float32 on the chosen device."""
    table = open_input(str(config.data))
    require_columns(table, {config.prompt_field: "--prompt-field", config.response_field: "--response-field"},
                    config.data)
    rows, weights = rows_and_weights(table, config, config.data)
    apply_threads(config)
    device = resolve_device(config.device)
    tokenizer, model = load_causal_lm(config.model, device=device, dtype=torch.float32, progress=config.progress)
    return TrainingInputs(table, rows, weights, device, tokenizer, model)


def save_trained(out: Path, model, tokenizer, metrics: dict) -> dict:
    """Save the model and tokenizer, then metrics.json (the finished-run marker); the checkpoint is no longer needed."""
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    give_default_mode(out)  # safetensors writes model.safetensors 0600; the folder's other files are 0644
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    return metrics


def run(config) -> dict:
    """Fine-tune `config.model` on `config.data`; the output folder loads with from_pretrained / --model."""
    refuse_finished_run(config)
    check_output(config.out, "folder", inputs=(config.data,))
    inputs = load_training_inputs(config)
    tokenizer, model = inputs.tokenizer, inputs.model
    ensure_chat_template(tokenizer, config.template, config.model)
    if config.lora:
        model = _wrap_lora(model, config.lora, config.seed)
    torch.manual_seed(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    save_config(config, config.out / "sft_config.json")
    trainable = last_blocks(model, config.train_last) if config.train_last else None
    metrics = fit(model, tokenizer, inputs.rows, config, weights=inputs.weights, trainable=trainable)
    if config.lora:
        model.save_pretrained(config.out / "adapter")
        give_default_mode(config.out / "adapter")
        model = model.merge_and_unload()
    metrics.update({"model": config.model, "data": config.data, "rows_in": inputs.table.num_rows,
                    "weight_sum": float(inputs.weights.sum()), "device": str(inputs.device)})
    return save_trained(config.out, model, tokenizer, metrics)
