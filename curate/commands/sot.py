"""`curate sot-weight`: push-pull OT sample weights for a fine-tuning corpus."""

from __future__ import annotations

import click

from curate.config import config_options
from transport.config import SOTConfig

__all__ = ["sot_weight"]


@click.command("sot-weight")
@config_options(SOTConfig)
def sot_weight(**options) -> None:
    """Weight a corpus so it is pulled toward safe anchors and pushed away from harmful references (SOT)."""
    from transport.pipeline import convergence_note, run

    config = SOTConfig(**options)
    summary = run(config)
    line = f"{summary['rows']} rows weighted; {summary['down_weighted']} down-weighted (< 0.5); {summary['kept']} kept"
    if "auroc" in summary:
        line += f"; AUROC vs is_harmful {summary['auroc']:.4f}, precision@rate {summary['precision_at_rate']:.3f}"
    click.echo(line)
    note = convergence_note(summary, config)
    if note is not None:
        click.echo(note)
    click.echo("wrote " + ", ".join(summary["files"]))
