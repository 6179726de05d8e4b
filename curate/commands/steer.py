"""`curate steer`: a model's answers to prompts, plain and steered along the dictionary's undesirable concepts."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import click

from curate.config import StageConfig, config_options
from curate.errors import ConfigError, InputError

__all__ = ["steer", "SteerConfig", "run", "load_steering", "DICTIONARY_OPTIONS"]


DICTIONARY_OPTIONS = ("layers", "method", "k", "alpha", "strength", "concepts")
"""Options of concept-dictionary steering; an SAE folder steers at its own layer and takes --gamma instead."""


@dataclass(frozen=True)
class SteerConfig(StageConfig):
    dictionary: Path
    """Concept dictionary folder (curate build-dictionary --out) or SAE folder (curate train sae --out)."""
    prompt: tuple[str, ...]
    """Prompt text; repeat the option for several prompts."""
    model: str = "smollm2-135m"
    """The causal LM the dictionary was built on (registry name or folder)."""
    layers: str | None = None
    """Comma-separated layers to steer (default: the folder's steering.json, else the middle dictionary layer)."""
    method: Literal["omp", "lasso"] = "omp"
    """Sparse coding: omp (k atoms) or lasso (penalty --alpha)."""
    k: int | None = None
    """OMP atoms per token, 1 up to the dictionary's atoms per layer (default: steering.json, else 16)."""
    alpha: float = 0.1
    """Lasso penalty."""
    strength: float | None = None
    """Scale s of the undesirable component taken away: 1 removes it exactly, -1 doubles it (refusals rise);
    default: steering.json, else -1, the setting chosen on validation (README, Steering defaults)."""
    concepts: str | None = None
    """Undesirable concepts steered: all, seed (WordNet seed-tree labels) or topN (the N with the highest harm
    score); default: steering.json, else top100."""
    gamma: float | None = None
    """SAE folders only: weight of the desirable atoms added at the SAE's layer (default: the folder's
    steering.json, else 0)."""
    max_new_tokens: int = 64
    """Greedy generation length."""
    system: str | None = None
    """System message (default: the chat template's own)."""

    unused_fields = ("overwrite", "seed")  # prints its answers and decodes greedily

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prompt:
            raise ConfigError("--prompt is required (repeat it for several prompts)")
        if self.max_new_tokens < 1:
            raise ConfigError(f"--max-new-tokens {self.max_new_tokens}: must be at least 1")
        if not self.alpha > 0:
            raise ConfigError(f"--alpha {self.alpha}: the lasso penalty must be > 0 (e.g. 0.1)")
        if self.layers is not None:
            _parse_layers(self.layers)
        if self.concepts is not None and not re.fullmatch(r"all|seed|top[1-9]\d*", self.concepts):
            raise ConfigError(f"--concepts {self.concepts!r}: use all, seed or topN (e.g. top100)")


def _parse_layers(text: str) -> list[int]:
    try:
        layers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        layers = []
    if not layers:
        raise ConfigError(f"--layers {text!r}: give comma-separated layer numbers, e.g. --layers 15 or 10,15")
    return layers


def _explicit_options(config: SteerConfig, names: tuple[str, ...]) -> list[str]:
    """The options among `names` set to something other than their default (so given on purpose)."""
    defaults = {f.name: f.default for f in fields(config)}
    return [name for name in names if getattr(config, name) != defaults[name]]


def _controller_options(config: SteerConfig, device) -> dict:
    """What the folder's controller takes: dictionary options for a dictionary, gamma (and device) for an SAE."""
    from curate.evaluation.controls import is_sae_folder

    folder = Path(config.dictionary)
    if not folder.is_dir():
        state = "is a file" if folder.exists() else "does not exist"
        raise InputError(f"--dictionary {folder} {state}; give the --out folder of `curate build-dictionary` or "
                         "`curate train sae`")
    if is_sae_folder(folder):
        wrong = _explicit_options(config, DICTIONARY_OPTIONS)
        if wrong:
            flags = ", ".join(f"--{name}" for name in wrong)
            raise ConfigError(f"{flags}: concept-dictionary options, but --dictionary {folder} is an SAE folder, "
                              "which steers at its own layer and takes --gamma; drop them")
        return {"device": str(device), **({} if config.gamma is None else {"gamma": config.gamma})}
    if config.gamma is not None:
        raise ConfigError(f"--gamma {config.gamma}: an SAE steering option, but --dictionary {folder} is a concept "
                          "dictionary; drop --gamma (use --strength)")
    return {"layers": config.layers, "method": config.method, "k": config.k,
            "alpha": config.alpha if config.method == "lasso" else None, "strength": config.strength,
            "concepts": config.concepts}


def _check_k(config: SteerConfig, controller) -> None:
    """OMP picks --k atoms per token, 1 up to the fewest a steered layer has: anything else is an error (above,
    not a silent clamp). The one check of --k, where the dictionary is known (lasso and SAE folders take no k)."""
    atoms = getattr(controller, "atoms", None)
    if not atoms or config.method != "omp" or config.k is None:
        return
    layer, fewest = min(((L, int(a.shape[0])) for L, a in atoms.items()), key=lambda pair: pair[1])
    if not 1 <= config.k <= fewest:
        raise ConfigError(f"--k {config.k}: the dictionary {config.dictionary} has {fewest} atoms at layer {layer}; "
                          f"give --k between 1 and {fewest}")


def _steered_shape(controller) -> tuple[dict[int, int], int]:
    """({layer: vector width} the controller steers, the lowest layer it accepts): hidden_states indices."""
    if hasattr(controller, "atoms"):
        return {int(L): int(a.shape[1]) for L, a in controller.atoms.items()}, 1
    return {int(controller.layer): int(controller.sae.shape.dim)}, 0


def _check_fits_model(controller, config: SteerConfig) -> None:
    """Layers and width against the model's config (no weights loaded), so a mismatch costs no model load."""
    from transformers import AutoConfig

    from curate.models import resolve_model_path

    model_config = AutoConfig.from_pretrained(resolve_model_path(config.model))
    num_layers, hidden = int(model_config.num_hidden_layers), int(model_config.hidden_size)
    shape, lowest = _steered_shape(controller)
    for layer, width in shape.items():
        if not lowest <= layer <= num_layers:
            raise ConfigError(f"--dictionary {config.dictionary} steers layer {layer}, but --model {config.model} "
                              f"has hidden_states {lowest}..{num_layers}; pick --layers in that range or the "
                              "model the dictionary was built on")
        if width != hidden:
            raise InputError(f"--dictionary {config.dictionary} holds {width}-d vectors at layer {layer}, but "
                             f"--model {config.model} has hidden size {hidden}; use the model it was built on")


def load_steering(config: SteerConfig, device):
    """The controller of `config.dictionary` (dictionary or SAE), checked against the model before any load."""
    from curate.evaluation.controls import load_controller

    controller = load_controller("steer", config.dictionary, **_controller_options(config, device))
    _check_k(config, controller)
    _check_fits_model(controller, config)
    return controller


def run(config: SteerConfig) -> list[dict]:
    """[{prompt, plain, steered}] for each prompt, greedy decoding."""
    from curate.device import apply_threads, resolve_device
    from curate.lm.chat import ensure_chat_template
    from curate.lm.generation import generate
    from curate.models import load_causal_lm

    apply_threads(config)
    device = resolve_device(config.device)
    controller = load_steering(config, device)  # every check of the dictionary before the model loads
    tokenizer, model = load_causal_lm(config.model, device=device)
    ensure_chat_template(tokenizer, None, config.model)
    prompts = list(config.prompt)
    common = {"system": config.system, "max_new_tokens": config.max_new_tokens, "progress": False}
    plain = generate(model, tokenizer, prompts, **common)
    steered = generate(model, tokenizer, prompts, controller=controller, **common)
    return [{"prompt": p, "plain": a, "steered": b} for p, a, b in zip(prompts, plain, steered)]


@click.command("steer")
@config_options(SteerConfig)
def steer(**options) -> None:
    """Print plain and steered generations (the undesirable concept components scaled by -strength)."""
    for row in run(SteerConfig(**options)):
        click.echo(f"PROMPT:  {row['prompt']}\nPLAIN:   {row['plain']}\nSTEERED: {row['steered']}\n")
