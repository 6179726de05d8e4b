"""`curate eval`: refusal rates, over-refusal and benign NLL of a model (optionally controlled or steered)."""

import click

from curate.config import config_options
from curate.evaluation.config import EvalConfig


@click.command("eval")
@config_options(EvalConfig)
def eval_command(**options) -> None:
    """Generate on harmful/benign prompts, judge refusals, score benign reference NLL; write a report."""
    from curate.evaluation.run import run

    summary = run(EvalConfig(**options))
    parts = [f"{k}: {100 * summary[k]['rate']:.1f}% refused" for k in ("harmful", "benign") if k in summary]
    if "nll" in summary:
        parts.append(f"benign NLL {summary['nll']['mean']:.4f}")
    click.echo("; ".join(parts) + f" -> {options['out']}")
