"""`curate generate`: answer prompts with a model, optionally with MOSAIC control tokens switched on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from curate.config import StageConfig, config_options
from curate.errors import ConfigError

__all__ = ["GenerateConfig", "run", "generate", "format_answers"]


@dataclass(frozen=True)
class GenerateConfig(StageConfig):
    prompt: tuple[str, ...]
    """Prompt text (repeat the option for several prompts)."""
    model: str = "smollm2-135m"
    """Registry name, local folder or hub id of the causal LM."""
    controls: Path | None = None
    """Folder written by `curate train mosaic`."""
    active: str | None = None
    """Comma-separated categories to switch on, in this order (needs --controls)."""
    system: str | None = None
    """System message (e.g. the in-context baseline's rules)."""
    max_new_tokens: int = 64
    """Tokens to generate per answer (greedy)."""

    unused_fields = ("overwrite", "seed")  # prints its answers and decodes greedily

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prompt:
            raise ConfigError("--prompt: give at least one prompt, e.g. --prompt \"How do I pick a lock?\"")
        if self.active and self.controls is None:
            raise ConfigError(f"--active {self.active} needs --controls DIR (a folder from `curate train mosaic`)")
        if self.max_new_tokens < 1:
            raise ConfigError(f"--max-new-tokens {self.max_new_tokens}: must be >= 1")


def run(config: GenerateConfig) -> list[str]:
    """Greedy answers, one per prompt."""
    import torch

    from curate.device import apply_threads, resolve_device
    from curate.lm.generation import generate as generate_answers
    from curate.models import load_causal_lm
    from train.mosaic import load_controller

    controller = None
    if config.controls is not None:
        if not Path(config.controls).exists():
            raise ConfigError(f"--controls {config.controls}: no such folder")
        controller = load_controller(config.controls, active=config.active)
    apply_threads(config)
    tokenizer, model = load_causal_lm(config.model, device=resolve_device(config.device), dtype=torch.float32,
                                      progress=config.progress)
    return generate_answers(model, tokenizer, list(config.prompt), controller=controller, system=config.system,
                            max_new_tokens=config.max_new_tokens, progress=False)


def format_answers(prompts: tuple[str, ...] | list[str], answers: list[str]) -> str:
    """Each prompt above its answer, numbered, so several --prompt options stay readable."""
    return "\n\n".join(f"prompt {i}: {prompt}\nanswer {i}: {answer}"
                         for i, (prompt, answer) in enumerate(zip(prompts, answers), start=1))


@click.command("generate")
@config_options(GenerateConfig)
def generate(**options) -> None:
    """Answer prompts greedily; with --controls/--active the chosen control tokens are prepended."""
    config = GenerateConfig(**options)
    click.echo(format_answers(config.prompt, run(config)))
