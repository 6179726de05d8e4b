"""`curate train sft`: weighted supervised fine-tuning on a curated table."""

import click

from curate.config import config_options
from train.sft import SFTConfig


@click.command("sft")
@config_options(SFTConfig)
def sft(**options) -> None:
    """Fine-tune a causal LM on prompt/response rows; SOT weights multiply each example's loss."""
    from train.sft import run

    metrics = run(SFTConfig(**options))
    click.echo(f"trained {metrics['steps']} steps on {metrics['examples']} rows, "
               f"final loss {metrics['final_loss']:.4f} -> {options['out']}")
