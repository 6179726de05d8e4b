"""`curate train mosaic`: learn per-category control tokens on a frozen causal LM (docs/methods.md, MOSAIC)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.config import StageConfig
from curate.errors import ConfigError

__all__ = ["MosaicConfig", "run", "DEFAULT_REFUSAL"]

DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."


@dataclass(frozen=True)
class MosaicConfig(StageConfig):
    data: str
    """Training table (Parquet/JSONL/CSV, folder or registry:NAME[:SPLIT]) with a prompt and a category column."""
    out: Path
    """Output folder: control_tokens.safetensors + .json, mosaic_config.json, metrics.json."""
    model: str = "smollm2-135m"
    """Registry name, local folder or hub id of the frozen causal LM."""
    categories: str | None = None
    """Comma-separated categories to train (default: every non-null category); other rows are neutral."""
    prompt_field: str = "prompt"
    """Column with the user request."""
    category_field: str = "category"
    """Column with the category; null = neutral."""
    response_field: str = "response"
    """Optional column with answers used as the L_LM target of negatives; missing/null -> the base model's answer."""
    tokens_per_category: int = 5
    """m: control tokens per category."""
    max_order: int = 3
    """Largest number of simultaneously active categories sampled in training."""
    per_subset: int = 20
    """Positives per subset at order 1 (the paper uses 100); each order's total is capped at order 1's."""
    kl_weight: float = 1.0
    """lambda: weight of KL(p_base || p_ctrl) on negatives."""
    epochs: int = 3
    """Passes over the sampled tasks (the paper uses 8)."""
    lr: float = 0.01
    """Adam learning rate for the control tokens."""
    batch_size: int = 16
    """Tasks per batch (one order per batch)."""
    max_length: int = 96
    """Token budget per example (prompt left-truncated)."""
    refusal: str = DEFAULT_REFUSAL
    """The refusal taught on positives."""
    teacher_tokens: int = 32
    """New tokens of the base model's own answer used as target for negatives that have no response."""
    init_from: str | None = None
    """Existing controls folder: keep its tokens frozen and train only categories it lacks (incremental expansion)."""
    dtype: Literal["fp32", "bf16"] = "fp32"
    """Frozen backbone weights: fp32, or bf16 (about 2x faster on CPUs with AVX512-BF16, emulated and far slower on
    CPUs without it: a warning says so; the control tokens, the logits the loss reads and the loss stay fp32)."""
    max_steps: int | None = None
    """Train exactly this many steps, cycling epochs as needed (overrides --epochs); default: --epochs passes."""

    field_help = {"seed": "Seed for task sampling, batch order and token initialisation.",
                  "overwrite": "Replace finished controls in --out instead of refusing."}

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("tokens_per_category", "max_order", "per_subset", "epochs", "batch_size", "max_length",
                     "teacher_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps {self.max_steps}: must be >= 1 (or omit it to train --epochs passes)")
        if self.dtype not in ("fp32", "bf16"):
            raise ConfigError(f"--dtype {self.dtype!r}: use fp32 or bf16")
        if self.lr <= 0:
            raise ConfigError(f"--lr {self.lr}: must be > 0")
        if self.kl_weight < 0:
            raise ConfigError(f"--lambda {self.kl_weight}: must be >= 0 (1 as in the paper)")
        if not self.refusal.strip():
            raise ConfigError("--refusal is empty: give the refusal text to teach, e.g. "
                              f"--refusal \"{DEFAULT_REFUSAL}\"")


StepCallback = Callable[[int, object, object, object], None]
"""on_step(step, tokens, model, tokenizer), called after every optimiser step (a learning curve's evaluation)."""


def run(config: MosaicConfig, on_step: StepCallback | None = None) -> dict:
    """Train the control tokens; save them, the resolved config and metrics.json in `config.out`."""
    import torch

    from curate.config import save_config
    from curate.device import apply_threads, resolve_device, warn_slow_bf16
    from curate.io import atomic_write_text, check_output
    from curate.lm.chat import ensure_chat_template
    from curate.models import load_causal_lm
    from train.mosaic.data import load_rows
    from train.mosaic.fit import fit_tokens, prepare_tokens
    from train.mosaic.tokens import ControlTokens

    out = Path(config.out)
    if (out / "metrics.json").exists() and not config.overwrite:
        raise ConfigError(f"--out {out}: already holds trained controls; pass --overwrite or choose another folder")
    check_output(out, "folder", inputs=(config.data, config.init_from))
    rows = load_rows(config)
    if config.init_from is not None:  # a bad --init-from folder fails before the model loads
        ControlTokens.load(config.init_from)
    apply_threads(config)
    device = resolve_device(config.device)
    dtype = torch.bfloat16 if config.dtype == "bf16" else torch.float32
    if config.dtype == "bf16":
        warn_slow_bf16(device)
    tokenizer, model = load_causal_lm(config.model, device=device, dtype=dtype)
    ensure_chat_template(tokenizer, None, config.model)
    model.requires_grad_(False)
    tokens, new = prepare_tokens(model, rows, config)
    started = time.perf_counter()
    metrics = fit_tokens(model, tokenizer, tokens, new, rows, config, on_step=on_step)
    metrics.update({"model": config.model, "data": config.data, "categories": tokens.categories,
                    "trained_categories": sorted(new), "device": str(device), "dtype": config.dtype,
                    "seconds": round(time.perf_counter() - started, 1)})
    tokens.save(out)
    save_config(config, out / "mosaic_config.json")
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics
