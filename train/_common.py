"""Shared training utilities: a deterministic micro-batch schedule, the optimiser, checkpoint save/resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from curate.io import atomic_folder

__all__ = ["batch_schedule", "make_optimizer", "lr_at", "save_checkpoint", "load_checkpoint", "trainable_state"]


def batch_schedule(n: int, batch_size: int, epochs: int, seed: int, max_micro: int | None = None) -> list[np.ndarray]:
    """Row indices of every micro-batch, epoch after epoch, each epoch a fresh seeded permutation.

    The schedule depends only on (n, batch_size, epochs, seed), so a resumed run replays exactly the batches
    an uninterrupted run would have seen.
    """
    schedule: list[np.ndarray] = []
    for epoch in range(epochs):
        order = np.random.default_rng(seed + epoch).permutation(n)
        schedule.extend(order[i:i + batch_size] for i in range(0, n, batch_size))
        if max_micro is not None and len(schedule) >= max_micro:
            return schedule[:max_micro]
    return schedule


def make_optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def lr_at(step: int, base_lr: float, warmup_steps: int) -> float:
    """Linear warm-up to `base_lr`, then constant (fixed-step experiments compare like with like)."""
    if warmup_steps <= 0:
        return base_lr
    return base_lr * min(1.0, (step + 1) / warmup_steps)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only the parameters being trained: small checkpoints for LoRA or head-sparse tuning."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Write to a temporary folder then rename over the old checkpoint, so a crash never leaves half of one."""
    with atomic_folder(folder) as tmp:
        torch.save(trainable_state(model), tmp / "trainable.pt")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=2))


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
    """Restore trainable weights, optimiser and RNG from `folder`; None when there is no complete checkpoint."""
    folder = Path(folder)
    if not (folder / "state.json").exists():
        return None
    weights = torch.load(folder / "trainable.pt", map_location="cpu")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location="cpu"))
    torch.set_rng_state(torch.load(folder / "rng.pt")["torch"])
    return json.loads((folder / "state.json").read_text())
