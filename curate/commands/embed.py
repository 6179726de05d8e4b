"""`curate embed`: build the config from the options and run the embedding stage."""

import click

from curate.config import config_options
from embed.config import EmbedConfig


@click.command("embed")
@config_options(EmbedConfig, arguments=("inputs",))
def embed(**options) -> None:
    """Embed INPUT... (JSONL, Parquet, CSV, save_to_disk folders, globs, registry:NAME) into --out shards."""
    from embed import run

    result = run(EmbedConfig(**options))
    manifest = result.manifest
    click.echo(f"wrote {manifest['records']} records ({manifest['rows']} rows, {manifest['dim']}-d) in "
               f"{len(manifest['shards'])} shards to {options['out']}; skipped {manifest['skipped']['count']}")
