"""`curate datasets`: list and export the embedded real datasets."""

import click

from curate.config import config_options
from curate.datasets.build import DatasetBuildConfig


@click.group()
def datasets() -> None:
    """Embedded datasets (usable as registry:NAME[:SPLIT] wherever an input file is taken)."""


@datasets.command("list")
def list_command() -> None:
    """Print each dataset's name, rows, splits and description."""
    from curate.datasets import list_datasets

    for row in list_datasets():
        splits = ", ".join(f"{k} {v}" for k, v in row["splits"].items() if v)
        notes = f" [{row['notes']}]" if row["notes"] else ""
        click.echo(f"{row['name']:22s} {row['rows']:6d} rows ({splits}) {row['description']}{notes}")


@datasets.command("build")
@config_options(DatasetBuildConfig, arguments=("name",))
def build_command(**options) -> None:
    """Write one dataset to a Parquet file (licence notices in its metadata and a sidecar JSON)."""
    from curate.datasets import run

    path = run(DatasetBuildConfig(**options))
    click.echo(f"wrote {path}")
