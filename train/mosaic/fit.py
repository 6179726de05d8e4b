"""The MOSAIC training loop: sampled tasks -> batches -> Adam on the control tokens only."""

from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np
import torch
from tqdm.auto import tqdm

from curate.errors import ConfigError, InputError
from curate.lm.chat import tokenize_pairs
from train.mosaic.data import MosaicRows, fill_base_responses
from train.mosaic.loss import mosaic_batch_loss
from train.mosaic.sampler import Task, cycle_batches, sample_tasks
from train.mosaic.teacher import TeacherStates, teacher_states
from train.mosaic.tokens import ControlTokens

__all__ = ["prepare_tokens", "fit_tokens", "train_step", "step_on_ids"]


def prepare_tokens(model, rows: MosaicRows, config) -> tuple[ControlTokens, set[str]]:
    """New tokens for every category, or (with --init-from) the saved ones frozen plus new ones for the rest."""
    torch.manual_seed(config.seed)
    hidden = model.get_input_embeddings().weight
    if config.init_from is None:
        tokens = ControlTokens(list(rows.by_category), config.tokens_per_category, hidden.shape[1], init=hidden)
        new = set(rows.by_category)
    else:
        tokens = ControlTokens.load(config.init_from)
        if tokens.hidden_size != hidden.shape[1]:
            raise InputError(f"--init-from {config.init_from}: tokens have width {tokens.hidden_size}, the model "
                             f"{config.model} has {hidden.shape[1]}; use controls trained for this model")
        tokens.requires_grad_(False)
        new = {c for c in rows.by_category if c not in tokens.categories}
        if not new:
            raise ConfigError(f"--init-from {config.init_from}: every category in the data is already trained "
                              f"({', '.join(sorted(rows.by_category))}); add a new category to train")
        for category in sorted(new):
            tokens.add_category(category, init=hidden)
    return tokens.to(hidden.device), new


def train_step(model, tokenizer, tokens: ControlTokens, batch: list[Task], rows: MosaicRows, config,
               optimizer: torch.optim.Optimizer, teacher: TeacherStates | None = None) -> dict:
    """One Adam step on one batch of tasks (all of the same order); `teacher` = precomputed negative states."""
    device = next(model.parameters()).device
    responses = [config.refusal if t.positive else rows.responses[t.row] or "" for t in batch]
    ids, mask, labels = tokenize_pairs(tokenizer, [rows.prompts[t.row] for t in batch], responses, config.max_length)
    prefix = torch.stack([tokens.compose(t.active) for t in batch]).to(device)
    negative = torch.tensor([not t.positive for t in batch], device=device)
    cached = None
    if teacher is not None and negative.any():
        cached = teacher.batch([t.row for t in batch if not t.positive])
    return step_on_ids(model, prefix, ids.to(device), mask.to(device), labels.to(device), negative, config.kl_weight,
                       optimizer, cached)


def step_on_ids(model, prefix: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                negative: torch.Tensor, kl_weight: float, optimizer: torch.optim.Optimizer, teacher=None) -> dict:
    """train_step after tokenisation: the MOSAIC loss on token ids (prefix = composed control tokens per row),
    backward, one optimiser step; the loss statistics. bench/gpu/_mosaic_step times exactly this."""
    loss, stats = mosaic_batch_loss(model, prefix, ids, mask, labels, negative, kl_weight, teacher=teacher)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return stats


def _schedule(tasks: dict[int, list[Task]], config) -> list[list[Task]]:
    """--epochs passes, or exactly --max-steps batches (as many passes as that takes)."""
    if config.max_steps is None:
        return cycle_batches(tasks, config.batch_size, config.epochs, seed=config.seed)
    per_epoch = len(cycle_batches(tasks, config.batch_size, 1, seed=config.seed))
    epochs = math.ceil(config.max_steps / max(per_epoch, 1))
    return cycle_batches(tasks, config.batch_size, epochs, seed=config.seed)[:config.max_steps]


def fit_tokens(model, tokenizer, tokens: ControlTokens, new: set[str], rows: MosaicRows, config,
               on_step=None) -> dict:
    """Sample tasks, fill negative targets, train; returns metrics (task counts, loss trace per order, s/step).

    `on_step(step, tokens, model, tokenizer)` runs after each step, outside the timed part."""
    tasks = sample_tasks(rows.by_category, rows.neutral, config.max_order, config.per_subset, seed=config.seed,
                         must_include=None if config.init_from is None else new)
    negatives = [t.row for order_tasks in tasks.values() for t in order_tasks if not t.positive]
    generated = fill_base_responses(rows, negatives, model, tokenizer, config.teacher_tokens,
                                    max(config.batch_size, 32), progress=config.progress)
    schedule = _schedule(tasks, config)
    teacher = None
    if negatives:
        teacher = teacher_states(model, tokenizer, rows.prompts, [r or "" for r in rows.responses], negatives,
                                 config.max_length, max(config.batch_size, 16), progress=config.progress)
    params = [p for c, p in tokens.tokens.items() if c in new]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    trace: dict[int, list[float]] = defaultdict(list)
    progress = tqdm(schedule, desc="mosaic", unit="batch", disable=not config.progress)
    step_seconds = 0.0
    for step, batch in enumerate(progress, 1):
        start = time.perf_counter()
        stats = train_step(model, tokenizer, tokens, batch, rows, config, optimizer, teacher)
        step_seconds += time.perf_counter() - start
        trace[len(batch[0].active)].append(stats["loss"])
        progress.set_postfix(loss=f"{stats['loss']:.3f}", kl=f"{stats['kl']:.3f}")
        if on_step is not None:
            on_step(step, tokens, model, tokenizer)
    return {
        "tasks_per_order": {str(o): {"positives": sum(t.positive for t in ts),
                                     "negatives": sum(not t.positive for t in ts),
                                     "subsets": len({tuple(sorted(t.active)) for t in ts})} for o, ts in tasks.items()},
        "steps": len(schedule), "base_answers_generated": generated,
        "seconds_per_step": round(step_seconds / max(len(schedule), 1), 4),
        "loss_first_last_by_order": {str(o): [float(np.mean(v[:3])), float(np.mean(v[-3:]))] for o, v in trace.items()},
    }
