"""Shared training utilities: a deterministic micro-batch schedule, the optimiser, checkpoint save/resume.

A checkpoint is a folder holding `tensors.safetensors` (weights, optimiser moments, RNG state) and `state.json`
(step, traces, the optimiser's index): nothing in it is unpickled, so a file planted in an output folder cannot
run code on the next run (torch.load of a pickle can).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from curate.errors import InputError
from curate.io import atomic_folder, give_default_mode, read_json, read_safetensors

__all__ = [
    "batch_schedule",
    "make_optimizer",
    "lr_at",
    "save_checkpoint",
    "load_checkpoint",
    "trainable_state",
    "optimizer_tensors",
    "restore_optimizer",
    "write_tensor_checkpoint",
    "read_tensor_checkpoint",
    "CheckpointWarning",
    "TENSORS_FILE",
    "STATE_FILE",
]

TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"
# what earlier versions wrote with torch.save: never loaded, since unpickling a planted file runs its code
_PICKLED_NAMES = ("trainable.pt", "optimizer.pt", "rng.pt")


class CheckpointWarning(UserWarning):
    """A checkpoint was found but not used (an older pickle format); training starts from step 0."""


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


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str = "optimizer.") -> tuple[dict, dict]:
    """(tensors, index): the optimiser's per-parameter tensors as flat `{prefix}{param}.{key}` entries, and a
    JSON-able index with the param groups and every non-tensor entry, from which `restore_optimizer` rebuilds it."""
    saved = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    entries: dict[str, dict] = {}
    for param_id, values in saved["state"].items():
        entry = entries[str(param_id)] = {"tensors": [], "values": {}}
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}{param_id}.{key}"] = value
                entry["tensors"].append(key)
            else:
                entry["values"][key] = value
    return tensors, {"param_groups": saved["param_groups"], "state": entries, "prefix": prefix}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], index: dict) -> None:
    """Load what `optimizer_tensors` wrote back into `optimizer` (load_state_dict moves moments to the params)."""
    prefix = index["prefix"]
    state = {}
    for param_id, entry in index["state"].items():
        values = dict(entry["values"])
        values.update({key: tensors[f"{prefix}{param_id}.{key}"] for key in entry["tensors"]})
        state[int(param_id)] = values
    # JSON turned tuples (Adam's betas) into lists
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in group.items()}
              for group in index["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def write_tensor_checkpoint(folder: Path, tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Write `tensors` (safetensors) and `state` (JSON) to a temporary folder, then rename it over `folder`, so a
    crash never leaves half of a checkpoint."""
    from safetensors.torch import save_file

    with atomic_folder(folder) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / TENSORS_FILE))
        give_default_mode(tmp / TENSORS_FILE)  # save_file leaves 0600
        (tmp / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def _warn_pickled(folder: Path) -> None:
    found = [folder / name for name in _PICKLED_NAMES if (folder / name).exists()]
    if found:
        warnings.warn(f"{found[0]}: a pickle checkpoint from an older safecurate is ignored, not loaded (unpickling a "
                      "file can run code); training starts from step 0 and replaces it", CheckpointWarning,
                      stacklevel=3)


def read_tensor_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """(tensors on CPU, state) of the checkpoint in `folder`; None when it holds none. A pickle left by an older
    version is ignored with a CheckpointWarning; a damaged or foreign file raises InputError."""
    folder = Path(folder)
    if folder.is_file():
        raise InputError(f"{folder} is a file where a checkpoint folder belongs; delete it to start from step 0")
    if not (folder / STATE_FILE).exists():
        _warn_pickled(folder)
        return None
    what = f"a checkpoint written by `curate train` (delete {folder} to start from step 0)"
    return read_safetensors(folder / TENSORS_FILE, what=what), read_json(folder / STATE_FILE, what=what)


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """The trainable weights, the optimiser (whose state covers only the trainable parameters) and the RNG."""
    tensors, index = optimizer_tensors(optimizer)
    tensors.update({f"param.{name}": value for name, value in trainable_state(model).items()})
    tensors["rng.torch"] = torch.get_rng_state()
    write_tensor_checkpoint(folder, tensors, {"state": state, "optimizer": index})


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
    """Restore trainable weights, optimiser and RNG from `folder`; None when there is no complete checkpoint."""
    found = read_tensor_checkpoint(Path(folder))
    if found is None:
        return None
    tensors, saved = found
    params = dict(model.named_parameters())
    weights = {name[len("param."):]: value for name, value in tensors.items() if name.startswith("param.")}
    unknown = sorted(set(weights) - set(params))
    if unknown:
        raise InputError(f"{folder}: the checkpoint holds parameters this model lacks ({unknown[0]}, ...); it is from "
                         "another model - delete it to start from step 0")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device))
    restore_optimizer(optimizer, tensors, saved["optimizer"])
    torch.set_rng_state(tensors["rng.torch"])
    return saved["state"]
