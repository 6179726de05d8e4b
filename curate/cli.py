"""The `curate` command. Subcommands load lazily: `curate --help` imports none of them (so no numpy or torch)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import click

from curate.errors import CurateError

__all__ = ["main", "cli"]

# name -> "module:attribute"; one small module per command group under curate/commands/.
COMMANDS = {
    "models": "curate.commands.models:models",
    "datasets": "curate.commands.datasets:datasets",
    "embed": "curate.commands.embed:embed",
    "sot-weight": "curate.commands.sot:sot_weight",
    "export": "curate.commands.export:export",
    "eval": "curate.commands.eval:eval_command",
    "judge": "curate.commands.judge:judge",
    "generate": "curate.commands.generate:generate",
    "train": "curate.commands.train:train",
    "build-dictionary": "curate.commands.dictionary:build_dictionary",
    "steer": "curate.commands.steer:steer",
    "diagnose-heads": "curate.commands.cast:diagnose_heads",
    "report": "curate.commands.report:report",
    "run": "curate.commands.run:run_recipe",
}

TRAIN_COMMANDS = {
    "sft": "curate.commands.train_sft:sft",
    "mosaic": "curate.commands.train_mosaic:mosaic",
    "cast": "curate.commands.cast:train_cast",
    "sae": "curate.commands.train_sae:sae",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked or asked for their own --help; the group's
    --help lists them from their docstrings, read in their source."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def _available(self) -> list[str]:
        return [name for name, spec in self.lazy.items() if importlib.util.find_spec(spec.split(":")[0])]

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        spec = self.lazy.get(name)
        if spec is None or not importlib.util.find_spec(spec.split(":")[0]):
            return None
        module, attr = spec.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter) -> None:
        """The command list, each line from the command's docstring read in its source, importing no command."""
        rows = [(name, self.summary_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, command) for name, command in rows if command is not None and not command.hidden]
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)  # as click.Group lays it out
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in rows])

    def summary_command(self, ctx, name: str) -> click.Command | None:
        """A stand-in carrying the command's help text for the list, or the command itself where the help is not
        a plain docstring (set in the decorator)."""
        docstring = None if name in self.commands else _docstring(self.lazy.get(name))
        return click.Command(name, help=docstring) if docstring else self.get_command(ctx, name)


def _docstring(spec: str | None) -> str | None:
    """The docstring of the function `spec` ("module:attribute") names, read from the module's source; None when
    the decorator sets help itself (or the function is not found), so the caller imports the command instead."""
    found = importlib.util.find_spec(spec.split(":")[0]) if spec else None
    if found is None or not found.origin:
        return None
    attr = spec.split(":")[1]
    for node in ast.parse(Path(found.origin).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            return None if any(_sets_help(d) for d in node.decorator_list) else ast.get_docstring(node, clean=False)
    return None


def _sets_help(decorator: ast.expr) -> bool:
    """True for @click.command(help=…) / @….group(short_help=…, hidden=…): help that is not the docstring."""
    if not isinstance(decorator, ast.Call):
        return False
    name = getattr(decorator.func, "attr", getattr(decorator.func, "id", ""))
    return name in ("command", "group") and bool({k.arg for k in decorator.keywords} & {"help", "short_help", "hidden"})


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="safecurate")
def cli() -> None:
    """Curate fine-tuning data for safety: embed, weight (SOT), build concept dictionaries, train."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one clear message and exit 2, without a traceback."""
    try:
        cli.main(args=argv, prog_name="curate", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except CurateError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
