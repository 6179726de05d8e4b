"""`curate steer`: a model's answers to prompts, plain and with the dictionary's undesirable concepts removed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from curate.config import StageConfig, config_options
from curate.errors import ConfigError

__all__ = ["steer", "SteerConfig"]


@dataclass(frozen=True)
class SteerConfig(StageConfig):
    dictionary: Path
    """Concept dictionary folder (curate build-dictionary --out) or SAE folder."""
    prompt: tuple[str, ...]
    """Prompt text; repeat the option for several prompts."""
    model: str = "smollm2-135m"
    """The causal LM the dictionary was built on (registry name or folder)."""
    layers: str | None = None
    """Comma-separated layers to steer (default: every layer of the dictionary)."""
    method: Literal["omp", "lasso"] = "omp"
    """Sparse coding: omp (k atoms) or lasso (penalty --alpha)."""
    k: int = 8
    """OMP atoms per token."""
    alpha: float = 0.1
    """Lasso penalty."""
    strength: float = 1.0
    """Scale of the removed undesirable component (1 = remove it exactly)."""
    max_new_tokens: int = 64
    """Greedy generation length."""
    system: str | None = None
    """System message (default: the chat template's own)."""

    unused_fields = ("overwrite", "seed")  # prints its answers and decodes greedily

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prompt:
            raise ConfigError("--prompt is required (repeat it for several prompts)")
        if self.k < 1 or self.max_new_tokens < 1:
            raise ConfigError(f"--k {self.k} and --max-new-tokens {self.max_new_tokens} must be at least 1")


def run(config: SteerConfig) -> list[dict]:
    """[{prompt, plain, steered}] for each prompt, greedy decoding."""
    from concepts.steering import load_controller
    from curate.device import apply_threads, resolve_device
    from curate.lm.chat import ensure_chat_template
    from curate.lm.generation import generate
    from curate.models import load_causal_lm

    apply_threads(config)
    tokenizer, model = load_causal_lm(config.model, device=resolve_device(config.device))
    ensure_chat_template(tokenizer, None, config.model)
    controller = load_controller(config.dictionary, layers=config.layers, method=config.method, k=config.k,
                                 alpha=config.alpha if config.method == "lasso" else None, strength=config.strength)
    prompts = list(config.prompt)
    common = {"system": config.system, "max_new_tokens": config.max_new_tokens, "progress": False}
    plain = generate(model, tokenizer, prompts, **common)
    steered = generate(model, tokenizer, prompts, controller=controller, **common)
    return [{"prompt": p, "plain": a, "steered": b} for p, a, b in zip(prompts, plain, steered)]


@click.command("steer")
@config_options(SteerConfig)
def steer(**options) -> None:
    """Print plain and steered generations (undesirable concept components removed)."""
    for row in run(SteerConfig(**options)):
        click.echo(f"PROMPT:  {row['prompt']}\nPLAIN:   {row['plain']}\nSTEERED: {row['steered']}\n")
