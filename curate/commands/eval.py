"""`curate eval`: refusal rates, over-refusal and benign NLL of a model (optionally controlled or steered).

`curate eval --model … --out …` runs an evaluation; `curate eval compare A B` compares two of them.
"""

import click
from click.core import ParameterSource

from curate.config import config_options
from curate.evaluation.compare import CompareConfig
from curate.evaluation.config import EvalConfig

__all__ = ["eval_command", "compare"]


@click.group("eval", invoke_without_command=True)
@config_options(EvalConfig, names={"judge_path": "--judge"})
@click.pass_context
def eval_command(ctx: click.Context, **options) -> None:
    """Generate on harmful/benign prompts, judge each answer (refusal / compliance / degenerate), score benign
    reference NLL; write a report.

    Rates print with their Wilson 95% intervals. `curate eval compare A B` compares two such runs.
    """
    if ctx.invoked_subcommand is not None:
        _reject_eval_options(ctx)
        return
    if options["out"] is None:
        raise click.MissingParameter(ctx=ctx, param=_param(eval_command, "out"))
    from curate.evaluation.report import summary_line
    from curate.evaluation.run import run

    summary = run(EvalConfig(**options))
    click.echo(summary_line(summary) + f" -> {options['out']}")


def _param(command: click.Command, name: str) -> click.Parameter:
    return next(p for p in command.params if p.name == name)


def _reject_eval_options(ctx: click.Context) -> None:
    """Options of the evaluation itself mean nothing to a subcommand; say so rather than ignore them."""
    given = [p.opts[0] for p in ctx.command.params if ctx.get_parameter_source(p.name) is not ParameterSource.DEFAULT]
    if given:
        raise click.UsageError(f"{', '.join(given)}: options of `curate eval` itself; "
                               f"`curate eval {ctx.invoked_subcommand}` takes its own (see its --help)", ctx=ctx)


# --out is required to evaluate but not to reach a subcommand; the group checks it itself.
_param(eval_command, "out").required = False
_param(eval_command, "judge_path").opts.append("--judge-path")  # the option's earlier name still works


@eval_command.command("compare")
@config_options(CompareConfig, arguments=("a", "b"))
def compare(**options) -> None:
    """Compare two `curate eval` folders on the same prompts: rates, NLL, paired tests (McNemar, bootstrap)."""
    from curate.evaluation.compare import format_comparison, run

    result = run(CompareConfig(**options))
    click.echo(format_comparison(result) + (f"\n-> {options['out']}" if options["out"] else ""))
