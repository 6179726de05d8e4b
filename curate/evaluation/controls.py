"""The controller extension point: MOSAIC control tokens and DACO/SAE steering plug into eval here."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import torch

from curate.errors import ConfigError, InputError

__all__ = ["Controller", "NoControl", "load_controller"]


@runtime_checkable
class Controller(Protocol):
    """Changes what the model sees (input embeddings) and how it computes (forward hooks)."""

    def embed_inputs(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


_LOADERS = {"mosaic": "train.mosaic", "steer": "concepts.steering"}


def load_controller(kind: Literal["mosaic", "steer"], path: str | Path, **options) -> Controller:
    """Load a trained controller lazily from its owner package: mosaic -> train.mosaic, steer -> concepts.steering."""
    if kind not in _LOADERS:
        raise ConfigError(f"controller kind '{kind}' is unknown; use one of: {', '.join(_LOADERS)}")
    if not Path(path).exists():
        flag = "--controls" if kind == "mosaic" else "--steer"
        raise InputError(f"{flag} {path}: no such folder")
    try:
        module = importlib.import_module(_LOADERS[kind])
    except ImportError as err:
        raise ConfigError(f"{kind} controllers need the module {_LOADERS[kind]}, which is not available: {err}") from err
    controller = module.load_controller(path, **options)
    if not isinstance(controller, Controller):
        raise ConfigError(f"{_LOADERS[kind]}.load_controller returned {type(controller).__name__}, not a Controller")
    return controller
