"""Weighted supervised fine-tuning: loss on response tokens only, each example's loss times its weight."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.config import StageConfig
from curate.errors import ConfigError

__all__ = ["SFTConfig", "fit", "run"]


@dataclass(frozen=True)
class SFTConfig(StageConfig):
    data: str
    """Training table: a file (Parquet/JSONL/CSV), a folder, or registry:NAME[:SPLIT]."""
    out: Path
    """Output folder: the fine-tuned model (save_pretrained), metrics.json, sft_config.json, checkpoint/."""
    model: str = "smollm2-135m"
    """Registry name, local folder or hub id of the causal LM to fine-tune."""
    prompt_field: str = "prompt"
    """Column with the user turn."""
    response_field: str = "response"
    """Column with the answer to learn (the only tokens that carry loss)."""
    weight_column: str | None = None
    """Per-example weight column (e.g. sot_weight); the loss of each example is multiplied by it."""
    mode: Literal["weights", "topk", "resample", "weight"] = "weights"
    """weights: weights multiply the loss (as `curate export --mode weights` keeps them; 'weight' is accepted as an
    alias); topk: train uniformly on the kept rows; resample: multinomial resample."""
    top_fraction: float | None = None
    """With --mode topk: keep this top fraction by weight (default: the table's boolean 'keep' column)."""
    lora: int = 0
    """LoRA rank (needs peft: pip install 'safecurate[lora]'); 0 = full fine-tuning."""
    train_last: int = 0
    """Train only the last N decoder blocks and the final norm (cheaper backward); 0 = every parameter."""
    epochs: int = 1
    """Passes over the data (ignored once --max-steps is reached)."""
    max_steps: int | None = None
    """Stop after this many optimiser steps (fixed-budget comparisons)."""
    lr: float = 5e-5
    """AdamW learning rate (after linear warm-up)."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    batch_size: int = 8
    """Examples per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimiser step (effective batch = batch_size x grad_accum)."""
    max_length: int = 256
    """Token budget per example (prompt left-truncated, response right-truncated)."""
    system: str | None = None
    """System message for every example (default: the template's own)."""
    template: str | None = None
    """Chat template for models without one: 'chatml', a .jinja file, or a Jinja string."""
    save_every: int = 0
    """Checkpoint every N optimiser steps (0 = only at the end); a rerun resumes from the last checkpoint."""

    field_help = {"seed": "Seed for batch order, resampling and LoRA initialisation.",
                  "overwrite": "Replace a finished run in --out instead of refusing."}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode == "weight":  # the spelling before `curate export --mode weights` and this one agreed
            object.__setattr__(self, "mode", "weights")
        for name in ("epochs", "batch_size", "grad_accum", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps {self.max_steps}: must be >= 1 (or omit it to run whole epochs)")
        if self.lr <= 0:
            raise ConfigError(f"--lr {self.lr}: must be > 0")
        if self.lora < 0:
            raise ConfigError(f"--lora {self.lora}: the LoRA rank must be >= 0 (0 = full fine-tuning)")
        if self.train_last < 0:
            raise ConfigError(f"--train-last {self.train_last}: must be >= 0 (0 = train every parameter)")
        if self.train_last and self.lora:
            raise ConfigError("--train-last and --lora: choose one way to limit the trainable parameters")
        if self.top_fraction is not None and not (0 < self.top_fraction <= 1):
            raise ConfigError(f"--top-fraction {self.top_fraction}: must be in (0, 1]")
        if self.top_fraction is not None and self.mode != "topk":
            raise ConfigError(f"--top-fraction needs --mode topk (got --mode {self.mode})")
        if self.save_every < 0:
            raise ConfigError(f"--save-every {self.save_every}: must be >= 0")
        for name in ("warmup_steps", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 0")


def fit(model, tokenizer, rows: list[dict], config, *, weights=None, after_backward=None, trainable=None) -> dict:
    """Train `model` in place on rows {prompt_field, response_field}; see train._loop for the contract."""
    from train._loop import fit as _fit

    return _fit(model, tokenizer, rows, config, weights=weights, after_backward=after_backward, trainable=trainable)


def run(config: SFTConfig) -> dict:
    """Load the model and data, fine-tune, save the model, metrics.json and the resolved config."""
    from train.sft.run import run as _run

    return _run(config)
