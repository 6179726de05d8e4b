"""The `curate` command. Subcommands load lazily so `curate --help` does not import torch."""

from __future__ import annotations

import importlib
import importlib.util
import sys

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
    """A click group whose subcommands are imported only when invoked (or listed in --help)."""

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
