"""`curate train sae`: a sparse autoencoder on per-token activations, its atoms labelled (or initialised) by a concept
dictionary (DACO)."""

import click

from curate.config import config_options
from train.sae import SAEConfig

__all__ = ["sae"]


@click.command("sae")
@config_options(SAEConfig)
def sae(**options) -> None:
    """Train a TopK/BatchTopK/ReLU SAE on `curate embed --pooling none` activations; label atoms with concepts."""
    from train.sae import run

    summary = run(SAEConfig(**options))
    final, held = summary["final"], summary["held_out"]
    resumed = f", resumed from step {summary['resumed_from_step']}" if summary.get("resumed_from_step") else ""
    line = (f"trained {summary['steps']} steps ({summary['tokens']} tokens, {summary['seconds']} s{resumed}): "
            f"FVU {final['fvu']:.4f}, L0 {final['l0']:.1f}, dead {final['dead_pct']:.1f}%")
    if held:
        line += f"; held-out FVU {held['fvu']:.4f}"
    if "atoms_by_label" in summary:
        line += "; atoms " + ", ".join(f"{k} {v}" for k, v in sorted(summary["atoms_by_label"].items()))
    click.echo(line + f" -> {options['out']}")
