"""`curate export`: weighted corpus → jsonl / parquet / HF folder, as weights, Top-K subset or resample."""

from __future__ import annotations

import click

from curate.config import config_options
from transport.export import ExportConfig

__all__ = ["export"]


@click.command("export")
@config_options(ExportConfig, arguments=("input",))
def export(**options) -> None:
    """Export a `curate sot-weight` output for fine-tuning stacks that take no per-example weights."""
    from transport.export import export as run_export

    summary = run_export(ExportConfig(**options))
    click.echo(f"wrote {summary['rows_out']} of {summary['rows_in']} rows to {summary['out']}")
