from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner

from curate.config import config_options, field_docs, load_config, save_config
from curate.errors import ConfigError


@dataclass(frozen=True)
class DemoConfig:
    inputs: tuple[str, ...]
    """Input files."""
    out: Path
    """Where the result goes."""
    method: Literal["a", "b"] = "a"
    """Which method."""
    beta: float = 0.5
    """Push strength."""
    verbose: bool = False
    """Say more."""
    note: str | None = None

    def __post_init__(self):
        if self.beta < 0:
            raise ConfigError(f"--beta {self.beta}: must be ≥ 0")


def test_field_docs_reads_docstrings_under_fields():
    docs = field_docs(DemoConfig)
    assert docs["out"] == "Where the result goes."
    assert docs["beta"] == "Push strength."
    assert "note" not in docs


def test_config_options_builds_cli_that_builds_config(tmp_path):
    import click

    seen = {}

    @click.command()
    @config_options(DemoConfig, arguments=("inputs",))
    def cmd(**kwargs):
        seen["config"] = DemoConfig(**kwargs)

    result = CliRunner().invoke(cmd, ["x.jsonl", "y.jsonl", "--out", str(tmp_path), "--method", "b", "--verbose"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.inputs == ("x.jsonl", "y.jsonl") and config.method == "b" and config.verbose
    assert isinstance(config.out, Path)
    help_text = CliRunner().invoke(cmd, ["--help"]).output
    assert "Push strength." in help_text
    bad = CliRunner().invoke(cmd, ["x", "--out", "o", "--method", "c"])
    assert bad.exit_code != 0 and "'c' is not one of" in bad.output


def test_save_load_round_trip_ignores_unknown_fields(tmp_path):
    config = DemoConfig(inputs=("a",), out=tmp_path / "o", method="b", beta=1.5)
    save_config(config, tmp_path / "config.json", elapsed=1.0)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["field_from_the_future"] = 3
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert load_config(DemoConfig, tmp_path / "config.json") == config


def test_post_init_error_names_option():
    with pytest.raises(ConfigError, match="--beta -1"):
        DemoConfig(inputs=(), out=Path("o"), beta=-1)
