"""The controller extension point: MOSAIC control tokens and DACO/SAE steering plug into eval here."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import torch

from curate.errors import ConfigError, InputError

__all__ = ["Controller", "NoControl", "load_controller", "is_sae_folder"]


@runtime_checkable
class Controller(Protocol):
    """Changes what the model sees (input embeddings) and how it computes (forward hooks)."""

    def embed_inputs(self, model, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs_embeds [B, T', H], attention_mask [B, T']); MOSAIC prepends its control tokens here."""
        ...

    def hooks(self, model) -> contextlib.AbstractContextManager:
        """A context manager that installs (and on exit removes) forward hooks, e.g. steering."""
        ...


class NoControl:
    """The identity controller: plain embeddings, no hooks (a reference for tests and baselines)."""

    def embed_inputs(self, model, input_ids, attention_mask):
        return model.get_input_embeddings()(input_ids), attention_mask

    def hooks(self, model):
        return contextlib.nullcontext()


# kind -> (owner module, its loader); a --steer folder holding sae.safetensors is an SAE (train/sae), else a
# concept dictionary (concepts/). Dispatching here keeps concepts/ (a stage) from importing a trainer.
_LOADERS = {"mosaic": ("train.mosaic", "load_controller"), "steer": ("concepts.steering", "load_controller"),
            "sae": ("train.sae.steer", "load_sae_controller")}


def is_sae_folder(path: str | Path) -> bool:
    """True for a `curate train sae` output folder (it steers through its latents, not a dictionary)."""
    return (Path(path) / "sae.safetensors").is_file()


def load_controller(kind: Literal["mosaic", "steer"], path: str | Path, **options) -> Controller:
    """Load a trained controller lazily from its owner package: mosaic -> train.mosaic, steer -> concepts.steering
    (or train.sae.steer for an SAE folder)."""
    if kind not in ("mosaic", "steer"):
        raise ConfigError(f"controller kind '{kind}' is unknown; use one of: mosaic, steer")
    if not Path(path).exists():
        flag = "--controls" if kind == "mosaic" else "--steer"
        raise InputError(f"{flag} {path}: no such folder")
    if kind == "steer" and is_sae_folder(path):
        kind = "sae"
    module_name, loader = _LOADERS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{kind} controllers need the module {module_name}, which is not available: {err}") from err
    controller = getattr(module, loader)(path, **options)
    if not isinstance(controller, Controller):
        raise ConfigError(f"{module_name}.{loader} returned {type(controller).__name__}, not a Controller")
    return controller
