"""`curate build-dictionary`: a DACO concept dictionary (directions per layer, labels) from real text."""

from __future__ import annotations

import click

from concepts.config import BuildConfig
from curate.config import config_options

__all__ = ["build_dictionary"]


@click.command("build-dictionary")
@config_options(BuildConfig)
def build_dictionary(**options) -> None:
    """Build concept directions (mean positive − mean negative activations) for a vocabulary of concepts."""
    from concepts.build import run

    manifest = run(BuildConfig(**options))
    labels = manifest["labels"]
    click.echo(f"{manifest['n_concepts']} concepts ({manifest['vocabulary']} in the vocabulary, "
               f"{manifest['dropped_no_stimuli']} without stimuli, {manifest['merged']} merged) at layers "
               f"{manifest['layers']}: {labels['undesirable']} undesirable, {labels['desirable']} desirable, "
               f"{labels['neutral']} neutral -> {options['out']}")
