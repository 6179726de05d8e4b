"""`curate run`: a recipe file's stages in order, each skipped when its output is complete and unchanged."""

from __future__ import annotations

import click

from curate.config import config_options
from curate.recipe.run import RunConfig

__all__ = ["run_recipe"]


@click.command("run")
@config_options(RunConfig, arguments=("recipe",))
def run_recipe(**options) -> None:
    """Run the stages of RECIPE (YAML: embed, sot-weight, export, train sft, eval, …) and write the report.

    A rerun after a crash resumes: stages whose output is complete and whose settings did not change are skipped.
    """
    from curate.recipe.run import run

    outcome = run(RunConfig(**options))
    if outcome["report"] and not options["dry_run"]:
        click.echo(f"report: {outcome['report']}")
