"""`--no-progress` silences every bar of `curate diagnose-heads` and `curate train mosaic`, inner ones included."""

from __future__ import annotations

import json
import re

import pytest

from curate.cli import main

SAFE = [{"prompt": f"how do I hurt {w}", "response": "I can't help with that."} for w in ("him", "her", "them", "it")]
UTIL = [{"prompt": f"what is {w}", "response": f"{w} is a kind of thing."} for w in ("a cat", "rain", "tea", "salt")]
# negatives without a response: mosaic generates the base model's answer (the generate bar) and caches its teacher
MOSAIC = ([{"prompt": f"cook {w}", "category": "food"} for w in ("rice", "eggs", "soup")]
          + [{"prompt": f"pet {w}", "category": "animal"} for w in ("cat", "dog", "owl")])
# what tqdm prints for a bar: "desc:  50%|█████     | 1/2 [00:00<00:00, 3.1batch/s]"
BAR = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")


def _jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _diagnose_heads(model, tmp_path) -> list[str]:
    return ["diagnose-heads", "--model", str(model), "--safe", _jsonl(tmp_path / "safe.jsonl", SAFE), "--util",
            _jsonl(tmp_path / "util.jsonl", UTIL), "--batches", "2", "--batch-size", "2", "--max-length", "48",
            "--device", "cpu", "--out", str(tmp_path / "map")]


def _train_mosaic(model, tmp_path) -> list[str]:
    return ["train", "mosaic", "--model", str(model), "--data", _jsonl(tmp_path / "data.jsonl", MOSAIC),
            "--tokens-per-category", "2", "--per-subset", "2", "--max-order", "1", "--epochs", "1",
            "--batch-size", "4", "--max-length", "48", "--teacher-tokens", "2", "--device", "cpu",
            "--out", str(tmp_path / "controls")]


COMMANDS = {"diagnose-heads": (_diagnose_heads, ("safety gradients", "utility gradients", "ablation")),
            "train mosaic": (_train_mosaic, ("generate", "mosaic teacher", "mosaic"))}


def _stderr(argv: list[str], capsys) -> str:
    capsys.readouterr()
    main(argv)
    return capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS)
def test_no_progress_prints_no_bar(command, tiny_lm_model, tmp_path, capsys, one_torch_thread):
    build, _ = COMMANDS[command]
    err = _stderr([*build(tiny_lm_model, tmp_path), "--no-progress"], capsys)
    assert not BAR.search(err), f"`curate {command} --no-progress` printed a bar:\n{err}"


@pytest.mark.parametrize("command", COMMANDS)
def test_bars_are_shown_by_default(command, tiny_lm_model, tmp_path, capsys, one_torch_thread):
    """The other side of the test above: the pattern does find each of the command's bars."""
    build, names = COMMANDS[command]
    err = _stderr(build(tiny_lm_model, tmp_path), capsys)
    shown = {match.split(":")[0].strip().split("\r")[-1] for match in re.findall(r"[^\r\n]*?: *\d+%\|", err)}
    assert set(names) <= shown, f"bars {sorted(shown)} in:\n{err}"
