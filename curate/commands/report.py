"""`curate report`: one self-contained HTML page for any output folder or file of the pipeline."""

from __future__ import annotations

import click

from curate.config import config_options
from curate.report.config import ReportConfig

__all__ = ["report"]


@click.command("report")
@config_options(ReportConfig, arguments=("run",))
def report(**options) -> None:
    """Write RUN's report: plots, tables you can sort and filter, example rows; opens in any browser offline."""
    from curate.report.build import run

    result = run(ReportConfig(**options))
    kinds = ", ".join(s["kind"] for s in result["sections"])
    click.echo(f"wrote {result['out']} ({result['bytes'] / 1e6:.1f} MB; sections: {kinds})")
