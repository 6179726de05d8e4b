"""`curate diagnose-heads`: CAST's head-level conflict map (docs/methods.md, CAST).

Per attention head h: O(h) = 1 − cos(∇_{θ_h} L_safe, ∇_{θ_h} L_util) with gradients accumulated over
--batches calibration batches; S(h) = the rise in utility loss when h is ablated (or |θ_h · ∇_{θ_h} L_util|);
score = rank(O) · rank(S); rank 1 = the most conflicting head.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.config import StageConfig
from curate.errors import ConfigError, InputError
from curate.lm.layers import num_layers

__all__ = ["DiagnoseConfig", "run", "calibration_rows", "diagnose"]

DEFAULT_SAFE = "registry:safe-anchor (kind = refusal)"
DEFAULT_UTIL = "registry:benign-qa:train"


@dataclass(frozen=True)
class DiagnoseConfig(StageConfig):
    out: Path
    """Output folder: conflict_map.parquet, manifest.json, conflict.png, sensitivity.png, score.png."""
    model: str = "smollm2-135m"
    """Registry name, local folder or hub id of a Llama-like causal LM (q/k/v/o attention projections)."""
    safe: str | None = None
    """D_safe: prompt/response rows of harmful prompts answered with refusals (default: the registry's
    harmful-prompts train split with refusal templates, i.e. safe-anchor rows of kind refusal)."""
    util: str | None = None
    """D_util: benign prompt/response rows (default: registry:benign-qa:train)."""
    prompt_field: str = "prompt"
    """Column with the user turn."""
    response_field: str = "response"
    """Column with the answer whose tokens carry the loss."""
    batches: int = 4
    """Calibration batches per set; gradients (and ablation losses) are averaged over them."""
    ablation_batches: int | None = None
    """Utility batches used for ablation sensitivity (default: all --batches); ablation costs a forward per head
    and batch."""
    batch_size: int = 8
    """Rows per calibration batch."""
    max_length: int = 128
    """Token budget per row (prompt left-truncated, response right-truncated)."""
    sensitivity: Literal["ablation", "taylor"] = "ablation"
    """ablation: utility-loss rise when the head's output is zeroed (one forward per head and batch);
    taylor: |θ_h · ∇L_util| (free)."""
    combine: Literal["product", "mean"] = "product"
    """How the rank-normalised conflict and sensitivity combine into the score."""
    system: str | None = None
    """System message for every row (default: the template's own)."""
    template: str | None = None
    """Chat template for models without one: 'chatml', a .jinja file, or a Jinja string."""

    field_help = {"seed": "Seed for the calibration subsets.",
                  "overwrite": "Replace a finished map in --out instead of refusing."}

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batches", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.ablation_batches is not None and not 1 <= self.ablation_batches <= self.batches:
            raise ConfigError(f"--ablation-batches {self.ablation_batches}: must be between 1 and "
                              f"--batches {self.batches}")


def _default_safe():
    import pyarrow.compute as pc

    from curate.datasets import load_dataset_table

    table = load_dataset_table("safe-anchor")
    return table.filter(pc.equal(table.column("kind"), "refusal"))


def calibration_rows(spec: str | None, n: int, config: DiagnoseConfig, option: str, salt: int) -> list[dict]:
    """A seeded subset of n {prompt, response} rows; fewer rows than asked is an error naming the option."""
    import numpy as np

    from curate.io import require_columns
    from embed import open_input

    if spec is None:
        table = _default_safe() if option == "--safe" else open_input(DEFAULT_UTIL)
    else:
        table = open_input(str(spec))
    name = spec or (DEFAULT_SAFE if option == "--safe" else DEFAULT_UTIL)
    require_columns(table, {config.prompt_field: "--prompt-field", config.response_field: "--response-field"}, name)
    if table.num_rows < n:
        raise InputError(f"{option} {name}: {table.num_rows} rows, but --batches {config.batches} x --batch-size "
                         f"{config.batch_size} needs {n}; lower --batches/--batch-size or pass more rows")
    picks = np.sort(np.random.default_rng([config.seed, salt]).choice(table.num_rows, n, replace=False))
    rows = table.take(picks).select([config.prompt_field, config.response_field]).to_pylist()
    empty = [i for i, r in enumerate(rows) if not r[config.response_field]]
    if empty:
        raise InputError(f"{option} {name}: {len(empty)} sampled rows have an empty '{config.response_field}'; "
                         "every calibration row needs an answer to score")
    return rows


def _batches(rows: list[dict], size: int) -> list[list[dict]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def diagnose(model, tokenizer, safe_rows: list[dict], util_rows: list[dict],
             config: DiagnoseConfig) -> tuple[dict, dict]:
    """(per-head columns, diagnostics) for an in-memory model; the core of `run`."""
    import numpy as np

    from curate.lm.chat import ensure_chat_template
    from train.cast.heads import head_slices
    from train.cast.scores import combine, rank_normalise
    from train.cast.signals import (
        ablation_sensitivity,
        accumulate_gradients,
        head_conflicts,
        head_grid,
        loss_settings,
        taylor_sensitivity,
    )

    try:
        slices = head_slices(model)
    except InputError as err:
        raise InputError(f"--model {config.model}: {err}") from err
    ensure_chat_template(tokenizer, config.template, config.model)
    settings = loss_settings(config.max_length, config.system, config.prompt_field, config.response_field)
    safe_b, util_b = _batches(safe_rows, config.batch_size), _batches(util_rows, config.batch_size)
    times = {}
    t = time.perf_counter()
    grad_safe, loss_safe = accumulate_gradients(model, tokenizer, safe_b, settings, slices, desc="safety gradients",
                                                progress=config.progress)
    grad_util, loss_util = accumulate_gradients(model, tokenizer, util_b, settings, slices, desc="utility gradients",
                                                progress=config.progress)
    times["gradients_s"] = round(time.perf_counter() - t, 1)
    columns = head_conflicts(grad_safe, grad_util, slices)
    t = time.perf_counter()
    if config.sensitivity == "ablation":
        sensitivity, _ = ablation_sensitivity(model, tokenizer, util_b[:config.ablation_batches], settings, slices,
                                              progress=config.progress)
    else:
        sensitivity = taylor_sensitivity(model, grad_util, slices)
    times["sensitivity_s"] = round(time.perf_counter() - t, 1)
    score = combine(columns["conflict"], sensitivity, config.combine)
    grid = head_grid(slices)
    # rank 1 = highest score; ties keep layer-major order
    rank = np.empty(len(grid), dtype=np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(1, len(grid) + 1)
    out = {"layer": np.array([layer for layer, _ in grid], dtype=np.int64),
           "head": np.array([h for _, h in grid], dtype=np.int64),
           "conflict": columns["conflict"], "sensitivity": sensitivity, "score": score, "rank": rank,
           "conflict_rank": rank_normalise(columns["conflict"]), "sensitivity_rank": rank_normalise(sensitivity),
           "safe_grad_norm": columns["safe_grad_norm"], "util_grad_norm": columns["util_grad_norm"]}
    return out, {"loss_safe": loss_safe, "loss_util": loss_util, **times}


def _model_shape(model) -> dict:
    cfg = model.config
    heads = cfg.num_attention_heads
    return {"layers": num_layers(model), "heads": heads, "kv_heads": getattr(cfg, "num_key_value_heads", None) or heads,
            "head_dim": getattr(cfg, "head_dim", None) or cfg.hidden_size // heads}


def run(config: DiagnoseConfig) -> dict:
    """Load the model and calibration sets, diagnose every head, write the map; returns the manifest."""
    import torch

    from curate.config import config_to_dict
    from curate.device import apply_threads, resolve_device
    from curate.io import check_output
    from curate.models import load_causal_lm, model_fingerprint
    from train.cast.conflict_map import MANIFEST_FILE, write_conflict_map

    if (config.out / MANIFEST_FILE).exists() and not config.overwrite:
        raise ConfigError(f"--out {config.out}: already holds a conflict map; pass --overwrite or choose another "
                          "folder")
    check_output(config.out, "folder", inputs=(config.safe, config.util))
    apply_threads(config)
    started = time.perf_counter()
    n = config.batches * config.batch_size
    safe_rows = calibration_rows(config.safe, n, config, "--safe", 1)
    util_rows = calibration_rows(config.util, n, config, "--util", 2)
    device = resolve_device(config.device)
    tokenizer, model = load_causal_lm(config.model, device=device, dtype=torch.float32)
    columns, info = diagnose(model, tokenizer, safe_rows, util_rows, config)
    manifest = {
        "model": config.model, "model_fingerprint": model_fingerprint(config.model), **_model_shape(model),
        "gqa": "k/v rows of a KV group belong to every query head of the group",
        "safe": config.safe or DEFAULT_SAFE, "util": config.util or DEFAULT_UTIL, "rows_per_set": n,
        "sensitivity": config.sensitivity, "combine": config.combine, **info, "device": str(device),
        "seconds": round(time.perf_counter() - started, 1), "config": config_to_dict(config),
    }
    files = write_conflict_map(config.out, columns, manifest)
    return {**manifest, "files": [str(f) for f in files], "columns": columns}
