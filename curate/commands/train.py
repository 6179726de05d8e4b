"""`curate train …`: thin trainers over the curated Parquet."""

import click

from curate.cli import TRAIN_COMMANDS, LazyGroup


@click.group(cls=LazyGroup, lazy=TRAIN_COMMANDS)
def train() -> None:
    """Train on curated data: sft (weighted), mosaic (control tokens), cast (head-sparse), sae."""
