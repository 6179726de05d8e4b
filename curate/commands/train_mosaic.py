"""`curate train mosaic`: composable safety control tokens on a frozen model."""

import click

from curate.config import config_options
from curate.models import transformers_bars
from train.mosaic.run import MosaicConfig


@click.command("mosaic")
@config_options(MosaicConfig, names={"kl_weight": "--lambda"})
def mosaic(**options) -> None:
    """Train m control tokens per category (refuse when active, behave as the base model otherwise)."""
    from train.mosaic.run import run

    config = MosaicConfig(**options)
    with transformers_bars(config.progress):
        metrics = run(config)
    click.echo(f"trained {', '.join(metrics['trained_categories'])} in {metrics['steps']} steps "
               f"({metrics['seconds']} s, {metrics['seconds_per_step']} s/step) -> {options['out']}")
