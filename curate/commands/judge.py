"""`curate judge`: verdicts (refusal / compliance / degenerate) and per-verdict scores for answers in a file."""

import click

from curate.config import config_options
from curate.evaluation.judges.apply import JudgeConfig

__all__ = ["judge"]


@click.command("judge")
@config_options(JudgeConfig, arguments=("input",))
def judge(**options) -> None:
    """Judge each (prompt, response) row of INPUT and write the rows with verdict and score_* columns to --out."""
    from curate.evaluation.judges.apply import run

    summary = run(JudgeConfig(**options))
    counts = ", ".join(f"{v} {n}" for v, n in summary["counts"].items())
    click.echo(f"judged {summary['rows']} rows ({summary['judge']['kind']} judge): {counts} -> {options['out']}")
