"""`curate diagnose-heads` and `curate train cast`: CAST head-level conflict map and head-sparse safety tuning."""

import click

from curate.commands.train_sft import final_loss_phrase
from curate.config import config_options
from curate.models import transformers_bars
from train.cast.diagnose import DiagnoseConfig
from train.cast.run import CastConfig

__all__ = ["diagnose_heads", "train_cast"]


@click.command("diagnose-heads")
@config_options(DiagnoseConfig)
def diagnose_heads(**options) -> None:
    """Score every attention head by safety/utility gradient conflict and utility sensitivity (CAST)."""
    from train.cast.diagnose import run

    config = DiagnoseConfig(**options)
    with transformers_bars(config.progress):
        result = run(config)
    cols = result["columns"]
    top = sorted(zip(cols["rank"], cols["layer"], cols["head"]))[:5]
    click.echo(f"diagnosed {len(cols['rank'])} heads ({result['layers']} layers x {result['heads']}) in "
               f"{result['seconds']} s; top heads (layer.head): {', '.join(f'{layer}.{h}' for _, layer, h in top)}")
    click.echo("wrote " + ", ".join(result["files"]))


@click.command("cast")
@config_options(CastConfig)
def train_cast(**options) -> None:
    """Safety fine-tuning of the attention projections with the most conflicting heads frozen (CAST)."""
    from train.cast.run import run

    metrics = run(CastConfig(**options))
    click.echo(f"trained {metrics['steps']} steps, {len(metrics['skipped_heads'])} heads skipped "
               f"({metrics['frozen_params']} of {metrics['trainable_params']} parameters frozen), "
               f"{final_loss_phrase(metrics)} -> {options['out']}")
