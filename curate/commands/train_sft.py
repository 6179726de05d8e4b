"""`curate train sft`: weighted supervised fine-tuning on a curated table."""

import click

from curate.config import config_options
from train.sft import SFTConfig

__all__ = ["sft", "final_loss_phrase"]


@click.command("sft")
@config_options(SFTConfig)
def sft(**options) -> None:
    """Fine-tune a causal LM on prompt/response rows; SOT weights multiply each example's loss."""
    from train.sft import run

    metrics = run(SFTConfig(**options))
    click.echo(f"trained {metrics['steps']} steps on {metrics['examples']} rows, "
               f"{final_loss_phrase(metrics)} -> {options['out']}")


def final_loss_phrase(metrics: dict) -> str:
    """metrics['final_loss'] is the mean over the last (up to) 10 optimiser steps, as _loop.fit computes it."""
    steps = min(10, len(metrics["loss_trace"]))
    return f"mean loss of the last {steps} step{'s' if steps != 1 else ''} {metrics['final_loss']:.4f}"
