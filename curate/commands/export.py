"""`curate export`: weighted corpus → jsonl / parquet / HF folder, as weights, Top-K subset or resample."""

from __future__ import annotations

import click

from curate.config import config_options
from transport.export import ExportConfig

__all__ = ["export", "summary_line"]


@click.command("export")
@config_options(ExportConfig, arguments=("input",))
def export(**options) -> None:
    """Export a `curate sot-weight` output for fine-tuning stacks that take no per-example weights."""
    from transport.export import export as run_export

    summary = run_export(ExportConfig(**options))
    click.echo(summary_line(options["mode"], summary))


def summary_line(mode: str, summary: dict) -> str:
    """What the export did, in the words of its mode (a resample may write more rows than it read)."""
    rows_in, rows_out, out = summary["rows_in"], summary["rows_out"], summary["out"]
    if mode == "resample":
        return f"resampled {rows_out} rows (with replacement, in proportion to sot_weight) from {rows_in} -> {out}"
    if mode == "topk":
        return f"wrote the {rows_out} of {rows_in} rows with keep = true -> {out}"
    return f"wrote all {rows_out} rows with their sot_weight -> {out}"
