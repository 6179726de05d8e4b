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


@pytest.mark.parametrize("progress", [False, True])
def test_the_loaders_hide_the_loading_bar(progress, tiny_lm_model, capsys, one_torch_thread):
    from curate.models import load_causal_lm

    capsys.readouterr()
    load_causal_lm(str(tiny_lm_model), progress=progress)
    err = capsys.readouterr().err
    assert ("Loading weights" in err and BAR.search(err)) if progress else not BAR.search(err), err


class Loaded(Exception):
    """Raised by the stub loader: the command got as far as loading its model."""


@pytest.fixture
def loader_progress(monkeypatch) -> list[bool]:
    """The `progress` each model load is asked for; the load itself stops the command."""
    import curate.models

    asked = []

    def load(auto_class, name, device, dtype, progress):
        asked.append(progress)
        raise Loaded(name)

    monkeypatch.setattr(curate.models, "_load_model", load)
    return asked


def _loading_commands(tmp_path) -> dict[str, list[str]]:
    prompts = _jsonl(tmp_path / "prompts.jsonl", [{"prompt": r["prompt"]} for r in SAFE])
    data = _jsonl(tmp_path / "data.jsonl", SAFE)
    return {"eval": ["eval", "--model", "tiny", "--prompts", prompts, "--out", str(tmp_path / "eval")],
            "generate": ["generate", "--model", "tiny", "--prompt", "hi"],
            "train sft": ["train", "sft", "--model", "tiny", "--data", data, "--out", str(tmp_path / "sft")]}


@pytest.mark.parametrize("command", ["eval", "generate", "train sft"])
@pytest.mark.parametrize("flag", [[], ["--no-progress"]], ids=["default", "no-progress"])
def test_commands_pass_no_progress_to_the_model_loader(command, flag, tmp_path, loader_progress):
    with pytest.raises(Loaded):
        main([*_loading_commands(tmp_path)[command], *flag])
    assert loader_progress == [not flag]


@pytest.mark.parametrize("progress", [False, True])
def test_build_dictionary_s_encoders_pass_progress_to_the_loader(progress, tmp_path, loader_progress):
    """build-dictionary loads its retrieval encoder and its LM through these two builders."""
    from concepts.activations import MultiLayerBuilder
    from embed import EmbedConfig, EncoderBuilder

    text = EmbedConfig(inputs=("rows.jsonl",), out=tmp_path / "e", model="tiny", progress=progress)
    lm = EmbedConfig(inputs=("rows.jsonl",), out=tmp_path / "a", model="tiny", encoder="lm", layer=1,
                     progress=progress)
    for builder in (EncoderBuilder(text), MultiLayerBuilder(lm, (1,))):
        with pytest.raises(Loaded):
            builder()
    assert loader_progress == [progress, progress]
