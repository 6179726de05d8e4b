"""What a user trips over between commands (issue 14 item 10): one spelling per mode, --threads / --no-progress on
every command that computes, one file mode per output folder, and command lines that say what happened."""

from __future__ import annotations

import warnings

import click
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.io import default_file_mode
from tests.test_cli_help import command_paths

ROWS = [{"prompt": "hi", "response": "hello there"}, {"prompt": "2+2?", "response": "4"},
        {"prompt": "say no", "response": "no"}, {"prompt": "name a fruit", "response": "apple"}]

# Commands that offer neither flag, and why: they print a registry or read finished runs' files; they load no model
# and draw no progress bar. A new command either takes both flags (inherit StageConfig) or is listed here.
NO_COMPUTE = {("models",): "lists the model registry", ("datasets", "list"): "lists the dataset registry",
              ("eval", "compare"): "a numpy bootstrap over two results.parquet files",
              ("report",): "renders a finished run's files as one HTML page"}


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        command = command.get_command(click.Context(command), name)
    return command


def _flags(command: click.Command) -> set[str]:
    return {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)}


@pytest.mark.parametrize("path", [p for p in command_paths() if not isinstance(_command(p), click.Group)],
                         ids=" ".join)
def test_every_computing_command_takes_threads_and_no_progress(path):
    flags = _flags(_command(path))
    if path in NO_COMPUTE:
        assert "--threads" not in flags, f"`curate {' '.join(path)}` gained --threads: drop it from NO_COMPUTE"
        return
    for flag in ("--threads", "--no-progress"):
        assert flag in flags, (f"`curate {' '.join(path)}` has no {flag}: build it from a StageConfig, or list it "
                               "in NO_COMPUTE with the reason")


@pytest.mark.parametrize("spelling", ["weights", "weight"])
def test_sft_mode_weights_with_weight_as_a_silent_alias(spelling, tmp_path):
    from curate.commands.train_sft import sft
    from train.sft import SFTConfig

    context = sft.make_context("sft", ["--data", "d.parquet", "--out", str(tmp_path), "--mode", spelling])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = SFTConfig(**context.params)
    assert config.mode == "weights"
    assert SFTConfig(data="d", out=tmp_path).mode == "weights"  # the default is the export's spelling too
    help_text = CliRunner().invoke(sft, ["--help"]).output
    assert "'weight' is accepted as an alias" in " ".join(help_text.split())


def test_export_mode_names_match_the_sft_ones():
    import typing

    from train.sft import SFTConfig
    from transport.export import ExportConfig

    export_modes = set(typing.get_args(typing.get_type_hints(ExportConfig)["mode"]))
    sft_modes = set(typing.get_args(typing.get_type_hints(SFTConfig)["mode"])) - {"weight"}
    assert export_modes == sft_modes == {"weights", "topk", "resample"}


def test_train_sft_writes_one_file_mode_and_says_what_the_loss_is(tiny_lm_model, tmp_path, one_torch_thread):
    data = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), data)
    out = tmp_path / "out"
    args = ["train", "sft", "--model", str(tiny_lm_model), "--data", str(data), "--max-steps", "3",
            "--batch-size", "2", "--save-every", "1", "--out", str(out), "--no-progress", "--threads", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "mean loss of the last 3 steps" in result.output and "final loss" not in result.output
    assert "sft:" not in result.stderr  # --no-progress hides the training bar
    with_bar = CliRunner().invoke(cli, [a if a != "--no-progress" else "--progress" for a in args] + ["--overwrite"])
    assert with_bar.exit_code == 0 and "sft:" in with_bar.stderr
    modes = {f.name: f.stat().st_mode & 0o777 for f in out.iterdir() if f.is_file()}
    assert "model.safetensors" in modes
    assert set(modes.values()) == {default_file_mode()}, modes


def test_checkpoint_tensors_get_the_default_mode(tiny_llama, tmp_path):
    from train._common import TENSORS_FILE, make_optimizer, save_checkpoint

    optimizer = make_optimizer(list(tiny_llama.parameters()), 1e-3, 0.0)
    save_checkpoint(tmp_path / "ck", tiny_llama, optimizer, {"step": 0})
    assert (tmp_path / "ck" / TENSORS_FILE).stat().st_mode & 0o777 == default_file_mode()


def test_final_loss_phrase_counts_the_steps_it_averages():
    from curate.commands.train_sft import final_loss_phrase

    assert final_loss_phrase({"loss_trace": [1.0] * 25, "final_loss": 0.5}) == "mean loss of the last 10 steps 0.5000"
    assert final_loss_phrase({"loss_trace": [2.0], "final_loss": 2.0}) == "mean loss of the last 1 step 2.0000"


def test_export_line_says_what_each_mode_did(tmp_path):
    weighted = tmp_path / "weighted.parquet"
    w = np.array([0.5, 2.0, 1.5, 0.0])
    pq.write_table(pa.table({"id": list("abcd"), "prompt": ["p"] * 4, "sot_weight": w,
                             "keep": [False, True, True, False]}), weighted)
    runner = CliRunner()
    lines = {}
    for mode, extra in (("weights", []), ("topk", []), ("resample", ["--n", "10"])):
        result = runner.invoke(cli, ["export", str(weighted), "--out", str(tmp_path / f"{mode}.jsonl"), "--mode",
                                     mode, *extra])
        assert result.exit_code == 0, result.output
        lines[mode] = result.output
    assert "wrote all 4 rows with their sot_weight" in lines["weights"]
    assert "wrote the 2 of 4 rows with keep = true" in lines["topk"]
    assert "resampled 10 rows (with replacement, in proportion to sot_weight) from 4" in lines["resample"]
    assert "of 4 rows" not in lines["resample"]


def test_generate_prints_each_answer_under_its_prompt(tiny_lm_model, one_torch_thread):
    args = ["generate", "--model", str(tiny_lm_model), "--prompt", "first question", "--prompt", "second one",
            "--max-new-tokens", "2", "--device", "cpu", "--threads", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    blocks = result.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].startswith("prompt 1: first question\nanswer 1: ")
    assert blocks[1].startswith("prompt 2: second one\nanswer 2: ")
