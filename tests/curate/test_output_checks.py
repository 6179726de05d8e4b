"""curate.io.check_output refuses an output location before any work; remove_stale_temps sweeps what killed runs
left, and only that (issue 14 items 3 and 4)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from curate.errors import ConfigError
from curate.io import check_output, remove_stale_temps, temp_path

DEAD_PID = 10 ** 7  # above any pid_max: no process has it


def _temps(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name))


def _age(path: Path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_parent_that_is_a_file_is_refused_without_creating_anything(tmp_path):
    data = tmp_path / "small.jsonl"
    data.write_text("{}\n")
    with pytest.raises(ConfigError, match=r"--out .*small\.jsonl/x\.parquet: .*small\.jsonl is a file, not a folder"):
        check_output(data / "x.parquet", "file", inputs=(data,))
    with pytest.raises(ConfigError, match=r"small\.jsonl is a file, not a folder"):
        check_output(data / "deeper" / "out", "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.jsonl"]


def test_unwritable_locations_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"--out /proc/x\.parquet: cannot write in /proc .*choose a writable"):
        check_output("/proc/x.parquet")
    with pytest.raises(ConfigError, match=r"--out /proc/runs/sft: cannot write in /proc"):
        check_output("/proc/runs/sft", "folder")


def test_file_and_folder_kinds(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*notes\.txt is a file but a folder is written there"):
        check_output(tmp_path / "notes.txt", "folder")
    with pytest.raises(ConfigError, match=r"--controls .* is a folder but a file is written there.*out\.parquet"):
        check_output(tmp_path, "file", option="--controls")
    assert check_output(tmp_path, "folder") == tmp_path  # an existing folder is fine: the stage decides
    assert check_output(tmp_path / "new" / "deep" / "w.parquet") == tmp_path / "new" / "deep" / "w.parquet"
    assert not (tmp_path / "new").exists()
    assert check_output(None) is None


def test_the_input_itself_or_a_place_inside_an_input_folder_is_refused(tmp_path):
    data = tmp_path / "w.parquet"
    data.write_bytes(b"PAR1")
    acts = tmp_path / "acts"
    acts.mkdir()
    with pytest.raises(ConfigError, match=r"--out .*w\.parquet is the input"):
        check_output(data, "file", inputs=("registry:safe-anchor", None, str(data)))
    with pytest.raises(ConfigError, match=r"--out .*acts/sae lies inside the input folder"):
        check_output(acts / "sae", "folder", inputs=(acts,))
    check_output(tmp_path / "sae", "folder", inputs=(acts, "registry:x", "data/*.jsonl", tmp_path / "missing"))


def test_overwrite_false_refuses_an_existing_output(tmp_path):
    out = tmp_path / "top.jsonl"
    out.write_text("")
    with pytest.raises(ConfigError, match=r"top\.jsonl exists; pass --overwrite"):
        check_output(out, overwrite=False)
    assert check_output(out, overwrite=True) == out


def test_stale_temps_go_and_live_ones_stay(tmp_path):
    out = tmp_path / "sft"
    (out / f".checkpoint.tmp-{DEAD_PID}").mkdir(parents=True)  # a killed `train sft` left its checkpoint folder
    (out / f".checkpoint.tmp-{DEAD_PID}" / "tensors.safetensors").write_bytes(b"half")
    (out / "sub").mkdir()
    (out / "sub" / f".part-00001.parquet.tmp-{DEAD_PID}-140").write_bytes(b"half")
    (out / f".model.safetensors.old-{DEAD_PID}").write_bytes(b"old")
    reused = out / f".metrics.json.tmp-{os.getpid()}"  # this PID, but written before this process started
    reused.write_text("{")
    _age(reused)
    live = temp_path(out / "config.json")  # being written by this process right now
    live.write_text("{")
    beside = tmp_path / f".sft.tmp-{DEAD_PID}"  # an atomic_folder swap that never finished
    beside.mkdir()
    unrelated = tmp_path / f".other.tmp-{DEAD_PID}"
    unrelated.write_text("not this output's")
    (out / "notes.tmp-1").write_text("a user file: not one of our hidden temporary names")
    removed = remove_stale_temps(out)
    expected = [f".checkpoint.tmp-{DEAD_PID}", f".part-00001.parquet.tmp-{DEAD_PID}-140",
                f".model.safetensors.old-{DEAD_PID}", reused.name, beside.name]
    assert sorted(p.name for p in removed) == sorted(expected)
    assert _temps(out) == [live.name] and unrelated.exists() and (out / "notes.tmp-1").exists()


def test_sidecar_temps_of_a_file_output_go(tmp_path):
    for name in (f".w.parquet.tmp-{DEAD_PID}", f".w.json.tmp-{DEAD_PID}", f".w.png.tmp-{DEAD_PID}-3"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / f".wx.parquet.tmp-{DEAD_PID}").write_bytes(b"")
    check_output(tmp_path / "w.parquet")
    assert _temps(tmp_path) == [f".wx.parquet.tmp-{DEAD_PID}"]


def test_a_killed_sft_run_leaves_no_temp_names_in_the_finished_output(tmp_path, tiny_lm_model, capsys):
    from curate.cli import main

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) + "\n" for i in range(4)))
    out = tmp_path / "sft"
    (out / f".checkpoint.tmp-{DEAD_PID}").mkdir(parents=True)
    (out / f".checkpoint.tmp-{DEAD_PID}" / "state.json").write_text("{}")
    (tmp_path / f".sft.tmp-{DEAD_PID}").mkdir()
    main(["train", "sft", "--data", str(data), "--out", str(out), "--model", str(tiny_lm_model), "--max-steps", "1",
          "--batch-size", "2", "--no-progress", "--device", "cpu", "--threads", "1"])
    assert (out / "metrics.json").is_file()
    assert _temps(tmp_path) == []
