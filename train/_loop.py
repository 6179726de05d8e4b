"""The reusable weighted SFT loop (contract 3): `fit(model, tokenizer, rows, config, ...)`."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from curate.errors import InputError
from curate.lm.chat import tokenize_pairs
from curate.lm.likelihood import example_nll
from train._common import batch_schedule, load_checkpoint, lr_at, make_optimizer, save_checkpoint

__all__ = ["fit"]

_DEFAULTS = {
    "lr": 5e-5, "warmup_steps": 0, "weight_decay": 0.0, "batch_size": 8, "grad_accum": 1, "epochs": 1,
    "max_steps": None, "max_length": 256, "seed": 0, "save_every": 0, "system": None,
    "prompt_field": "prompt", "response_field": "response", "progress": True,
}


def _opt(config, name: str):
    return getattr(config, name, _DEFAULTS[name])


def _checkpoint_dir(config) -> Path | None:
    explicit = getattr(config, "checkpoint_dir", None)
    if explicit is not None:
        return Path(explicit)
    out = getattr(config, "out", None)
    return Path(out) / "checkpoint" if out is not None and _opt(config, "save_every") > 0 else None


def _weighted_loss(model, tokenizer, batch: list[dict], w: torch.Tensor, config,
                   n_step: int) -> tuple[torch.Tensor, int]:
    """sum_i w_i * NLL_i / n_step: NLL_i is example i's mean response-token NLL, n_step the examples in the step."""
    device = next(model.parameters()).device
    ids, mask, labels = tokenize_pairs(
        tokenizer, [r[_opt(config, "prompt_field")] for r in batch],
        [r[_opt(config, "response_field")] or "" for r in batch], _opt(config, "max_length"),
        system=_opt(config, "system"),
    )
    ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    # only positions that predict a response token need the (vocabulary-sized) output layer
    first = int((labels != -100).float().argmax(1).min().clamp_min(1)) - 1
    with autocast:
        logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=ids.shape[1] - first).logits
    nll = example_nll(logits, labels[:, first:])
    return (w.to(device) * nll).sum() / n_step, int((labels != -100).sum())


def _prepare(model, rows, weights, trainable) -> tuple[np.ndarray, list[torch.nn.Parameter]]:
    if not rows:
        raise InputError("no training rows (after dropping zero-weight rows)")
    weights = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(rows),) or (weights < 0).any() or not np.isfinite(weights).all():
        raise InputError(f"weights must be {len(rows)} finite values >= 0 (got shape {weights.shape})")
    if trainable is not None:
        for name, p in model.named_parameters():
            p.requires_grad_(bool(trainable(name, p)))
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError("no trainable parameters: the `trainable` predicate rejected every parameter")
    return weights, params


def fit(
    model: torch.nn.Module,
    tokenizer,
    rows: list[dict],
    config,
    *,
    weights=None,
    after_backward: Callable[[torch.nn.Module], None] | None = None,
    trainable: Callable[[str, torch.nn.Parameter], bool] | None = None,
) -> dict:
    """Train in place; returns metrics {steps, examples, tokens, loss_trace, final_loss, seconds, ...}.

    `config` is any object with SFTConfig's training attributes (missing ones take SFTConfig's defaults).
    Each optimiser step covers `grad_accum` micro-batches; the loss is sum_i w_i NLL_i / (examples in the
    step), so accumulation equals one large batch. `after_backward(model)` runs after each backward pass
    (e.g. to mask gradients); `trainable(name, param)` selects the parameters to train.
    A checkpoint (trainable weights, optimiser, step) is written every `save_every` steps and resumed from.
    """
    weights, params = _prepare(model, rows, weights, trainable)
    accum, max_steps = _opt(config, "grad_accum"), _opt(config, "max_steps")
    schedule = batch_schedule(len(rows), _opt(config, "batch_size"), _opt(config, "epochs") if max_steps is None
                              else 10**9, _opt(config, "seed"), None if max_steps is None else max_steps * accum)
    total = -(-len(schedule) // accum)
    optimizer = make_optimizer(params, _opt(config, "lr"), _opt(config, "weight_decay"))
    ckpt = _checkpoint_dir(config)
    state = load_checkpoint(ckpt, model, optimizer) if ckpt else None
    start, trace, tokens = (state["step"], state["loss_trace"], state["tokens"]) if state else (0, [], 0)
    model.train()
    started = time.perf_counter()
    for step in tqdm(range(start, total), initial=start, total=total, desc="sft", unit="step",
                     disable=not _opt(config, "progress")):
        micro = schedule[step * accum:(step + 1) * accum]
        n_step = sum(len(b) for b in micro)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, _opt(config, "lr"), _opt(config, "warmup_steps"))
        step_loss = 0.0
        for idx in micro:
            loss, n_tok = _weighted_loss(model, tokenizer, [rows[i] for i in idx],
                                         torch.tensor(weights[idx], dtype=torch.float32), config, n_step)
            loss.backward()
            step_loss, tokens = step_loss + loss.item(), tokens + n_tok
            if after_backward is not None:
                after_backward(model)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        trace.append(step_loss)
        if ckpt and ((step + 1) % _opt(config, "save_every") == 0 or step + 1 == total):
            save_checkpoint(ckpt, model, optimizer, {"step": step + 1, "loss_trace": trace, "tokens": tokens})
    model.eval()
    seconds = time.perf_counter() - started
    return {
        "steps": total, "resumed_from_step": start, "examples": len(rows), "tokens": tokens,
        "loss_trace": trace, "final_loss": float(np.mean(trace[-10:])) if trace else None,
        "seconds": round(seconds, 2),
        "seconds_per_step": seconds / max(total - start, 1),  # unrounded: sizes runs from a few timed steps
        "trainable_params": int(sum(p.numel() for p in params)),
    }
