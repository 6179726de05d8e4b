"""Decoder-block access for the Hugging Face causal LMs the project uses, wrapped by peft or not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from curate.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["decoder_layers", "final_norm", "num_layers"]

# Where the block list and the norm after it live, from a *ForCausalLM head model down to a bare base model.
_LAYER_PATHS = ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers", "layers", "h")
_NORM_PATHS = ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm", "model.decoder.final_layer_norm",
               "norm", "ln_f")


def _unwrapped(model):
    # peft's PeftModel keeps the transformers model under base_model.model; get_base_model() returns it
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def _lookup(model, paths: tuple[str, ...], kind: type, what: str):
    """The first attribute path of `model` that holds a `kind`; a ConfigError naming `what` and the paths if none."""
    base = _unwrapped(model)
    for path in paths:
        found = base
        for part in path.split("."):
            found = getattr(found, part, None)
        if isinstance(found, kind):
            return found
    raise ConfigError(f"{type(model).__name__} has no {what} where safecurate looks "
                      f"({', '.join('.' + p for p in paths)}); use a Llama- or GPT-2-style "
                      "Hugging Face causal LM (AutoModelForCausalLM)")


def decoder_layers(model) -> torch.nn.ModuleList:
    """The decoder blocks of a causal LM in order: block i's output is hidden_states[i + 1]."""
    import torch

    return _lookup(model, _LAYER_PATHS, torch.nn.ModuleList, "decoder blocks")


def num_layers(model) -> int:
    """How many decoder blocks the model has (= len(hidden_states) - 1)."""
    return len(decoder_layers(model))


def final_norm(model) -> torch.nn.Module:
    """The norm applied after the last block, whose output is hidden_states[num_layers]."""
    import torch

    return _lookup(model, _NORM_PATHS, torch.nn.Module, "final norm")
