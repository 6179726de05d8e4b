"""curate.io: atomic writes leave no temporary file, and every bad input file is one InputError naming it."""

from __future__ import annotations

import json
import re
import shutil
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.errors import InputError
from curate.io import (
    atomic_folder,
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
    read_json,
    read_safetensors,
    read_table,
    require_columns,
    temp_path,
    write_parquet,
)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _safetensors_bytes() -> bytes:
    import torch
    from safetensors.torch import save

    return save({"layer_1": torch.arange(12, dtype=torch.float32).reshape(3, 4)})


# --- writes -------------------------------------------------------------------------------------------------


def test_temp_name_is_a_hidden_sibling_with_the_pid(tmp_path):
    import os

    target = tmp_path / "w.parquet"
    assert temp_path(target) == tmp_path / f".w.parquet.tmp-{os.getpid()}"
    names = []
    worker = threading.Thread(target=lambda: names.append(temp_path(target).name))
    worker.start()
    worker.join()
    assert names[0].startswith(f".w.parquet.tmp-{os.getpid()}-") and names[0] != temp_path(target).name


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "note.txt"
    atomic_write_text(target, "first")
    atomic_write_bytes(target, "second ✓".encode())
    assert target.read_text(encoding="utf-8") == "second ✓"
    assert _leftovers(target.parent) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_open(target) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_failed_parquet_write_leaves_no_temp(tmp_path):
    target = tmp_path / "t.parquet"
    write_parquet(pa.table({"x": [1]}), target)
    with pytest.raises(pa.ArrowException):
        write_parquet(pa.table({"x": [1, 2]}), target, compression="no-such-codec")
    assert pq.read_table(target).column("x").to_pylist() == [1]
    assert _leftovers(tmp_path) == []


def test_write_parquet_round_trip_with_options(tmp_path):
    import polars as pl

    table = pa.table({"id": ["a", "b", "c"], "v": pa.array([0.5, 1.5, 2.5], pa.float32())})
    write_parquet(table, tmp_path / "t.parquet", compression={"id": "snappy", "v": "none"}, use_dictionary=False)
    back = pq.read_table(tmp_path / "t.parquet")
    assert back.equals(table)
    columns = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    assert [columns.column(i).compression for i in range(2)] == ["SNAPPY", "UNCOMPRESSED"]
    frame = pl.DataFrame({"id": ["x", "y"], "n": [1, 2]})
    write_parquet(frame, tmp_path / "frame.parquet")
    assert pl.read_parquet(tmp_path / "frame.parquet").equals(frame)
    assert _leftovers(tmp_path) == []


def test_atomic_folder_swaps_in_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_folder(target) as tmp:
        (tmp / "state.json").write_text("1")
    with atomic_folder(target) as tmp:
        (tmp / "state.json").write_text("2")
    assert (target / "state.json").read_text() == "2"
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "state.json").write_text("3")
            raise RuntimeError("killed")
    assert (target / "state.json").read_text() == "2"
    with atomic_folder(target, keep_existing=True) as tmp:  # a finished cache wins over a second copy
        (tmp / "state.json").write_text("4")
    assert (target / "state.json").read_text() == "2"
    assert _leftovers(tmp_path) == []


def test_atomic_folder_replaces_a_file(tmp_path):
    target = tmp_path / "hf"
    target.write_text("a file where the folder goes")
    with atomic_folder(target) as tmp:
        (tmp / "data").write_text("x")
    assert (target / "data").read_text() == "x" and _leftovers(tmp_path) == []


# --- reads --------------------------------------------------------------------------------------------------


def _bad_file(tmp_path, kind: str, good: bytes):
    path = tmp_path / f"{kind}.bin"
    if kind == "missing":
        return path
    if kind == "folder":
        path.mkdir()
        return path
    path.write_bytes({"empty": b"", "truncated": good[: len(good) // 2], "junk": b"not this format at all " * 4,
                      "header-only": good[:6]}[kind])
    return path


BAD_KINDS = ["missing", "folder", "empty", "truncated", "junk", "header-only"]
MESSAGES = {"missing": "does not exist", "folder": "is a folder", "empty": r"is empty \(0 bytes\)"}


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_read_table_bad_files(tmp_path, kind):
    path = _bad_file(tmp_path, kind, _parquet_bytes(pa.table({"x": list(range(100))})))
    expected = MESSAGES.get(kind, "not a readable Parquet file")
    with pytest.raises(InputError, match=re.escape(str(path)) + ".*" + expected + ".*give a Parquet file"):
        read_table(path)


def test_read_table_corrupt_pages(tmp_path):
    good = _parquet_bytes(pa.table({"x": list(range(1000))}))
    path = tmp_path / "pages.parquet"
    path.write_bytes(good[:4] + b"\x00" * 64 + good[68:])  # footer intact, data pages overwritten
    with pytest.raises(InputError, match=re.escape(str(path)) + ": not a readable Parquet file"):
        read_table(path)


def test_the_input_reader_names_a_file_that_breaks_part_way(tmp_path):
    from embed import open_input
    from embed.readers import estimate_rows, expand_inputs

    good = _parquet_bytes(pa.table({"prompt": [str(i) for i in range(1000)]}))
    path = tmp_path / "train.parquet"
    path.write_bytes(good[:4] + b"\x00" * 64 + good[68:])
    with pytest.raises(InputError, match=re.escape(str(path)) + ": not a readable parquet input"):
        open_input(str(path))
    path.write_bytes(good[: len(good) // 2])
    assert estimate_rows(expand_inputs(str(path))[0]) is None  # no traceback from the progress-bar estimate
    with pytest.raises(InputError, match=re.escape(str(path)) + ": not a readable Parquet file"):
        open_input(str(path))


def test_read_table_columns(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(pa.table({"id": ["a"], "prompt": ["p"], "score": [1.0]}), path)
    assert read_table(path, columns=["prompt"]).column_names == ["prompt"]
    assert read_table(path).column_names == ["id", "prompt", "score"]
    with pytest.raises(InputError, match=r"no columns 'label', 'weight'; its columns are: id, prompt, score"):
        read_table(path, columns=["prompt", "label", "weight"])


def test_require_columns_names_the_options_and_the_present_columns():
    table = pa.table({"text": ["x"], "category": ["c"]})
    require_columns(table, ["text"], "data.jsonl")
    with pytest.raises(InputError, match=r"input 'data.jsonl' has no column 'prompt' \(set by --prompt-field\); "
                                         r"its columns are: text, category"):
        require_columns(table, {"prompt": "--prompt-field", "category": "--category-field"}, "data.jsonl")
    with pytest.raises(InputError, match=r"no columns 'prompt' \(set by --prompt-field\), 'response' \(set by "
                                         r"--response-field\)"):
        require_columns(table, {"prompt": "--prompt-field", "response": "--response-field"}, "data.jsonl")
    with pytest.raises(InputError, match=r"its columns are: \(none\)"):
        require_columns(pa.table({}), ["id"], "empty.jsonl")


def test_read_safetensors_round_trip(tmp_path):
    import torch

    path = tmp_path / "d.safetensors"
    atomic_write_bytes(path, _safetensors_bytes())
    tensors = read_safetensors(path)
    assert list(tensors) == ["layer_1"] and torch.equal(tensors["layer_1"], torch.arange(12.0).reshape(3, 4))


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_read_safetensors_bad_files(tmp_path, kind):
    path = _bad_file(tmp_path, kind, _safetensors_bytes())
    expected = MESSAGES.get(kind, "not a readable safetensors file")
    with pytest.raises(InputError, match=re.escape(str(path)) + ".*" + expected + ".*give the weights"):
        read_safetensors(path, what="the weights")


def test_read_json(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"layers": [1]}')
    assert read_json(path) == {"layers": [1]}
    path.write_text('{"layers": [1')
    with pytest.raises(InputError, match=re.escape(str(path)) + ": not a readable JSON file"):
        read_json(path)


# --- the commands: exit 2 with one line naming the file -----------------------------------------------------


def _fails_cleanly(argv: list[str], capsys, *needles: str) -> str:
    from curate.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    message = err.strip().splitlines()[-1]  # model loading may draw progress bars above it
    assert "Traceback" not in err and message.startswith("Error: ") and err.count("Error: ") == 1, err
    for needle in needles:
        assert needle in message, err
    return message


def _corrupt(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_export_refuses_a_corrupt_parquet_and_a_folder(tmp_path, capsys):
    bad = tmp_path / "weighted.parquet"
    write_parquet(pa.table({"id": list("abcd"), "sot_weight": [1.0] * 4, "keep": [True] * 4}), bad)
    _corrupt(bad)
    _fails_cleanly(["export", str(bad), "--out", str(tmp_path / "o.jsonl")], capsys, str(bad), "not a readable Parquet")
    folder = tmp_path / "runs"
    folder.mkdir()
    _fails_cleanly(["export", str(folder), "--out", str(tmp_path / "o.jsonl")], capsys, str(folder), "is a folder")
    assert not (tmp_path / "o.jsonl").exists()


def test_export_resample_refuses_negative_weights(tmp_path, capsys):
    data = tmp_path / "weighted.parquet"
    write_parquet(pa.table({"id": list("abc"), "sot_weight": [1.0, -0.5, 2.0], "keep": [True] * 3}), data)
    _fails_cleanly(["export", str(data), "--out", str(tmp_path / "r.jsonl"), "--mode", "resample"], capsys,
                   "sot_weight of row 1 is -0.5")
    assert not (tmp_path / "r.jsonl").exists()


@pytest.fixture
def broken_dictionary(tmp_path):
    from tests.train.sae_fixtures import planted_atoms, write_dictionary

    folder = write_dictionary(tmp_path / "dict", planted_atoms(4, 32), ["undesirable", "neutral", "neutral",
                                                                        "desirable"], layer=1)
    _corrupt(folder / "dictionary.safetensors")
    return folder


def test_steer_refuses_a_truncated_dictionary(tiny_lm_model, broken_dictionary, capsys):
    _fails_cleanly(["steer", "--dictionary", str(broken_dictionary), "--prompt", "hi", "--model", str(tiny_lm_model)],
                   capsys, str(broken_dictionary / "dictionary.safetensors"), "not a readable")


def test_eval_steer_refuses_a_truncated_dictionary(tiny_lm_model, broken_dictionary, tmp_path, capsys):
    nll = tmp_path / "nll.jsonl"
    nll.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n")
    _fails_cleanly(["eval", "--model", str(tiny_lm_model), "--nll-data", str(nll), "--steer", str(broken_dictionary),
                    "--out", str(tmp_path / "eval")], capsys,
                   str(broken_dictionary / "dictionary.safetensors"))


def test_train_sae_refuses_a_truncated_dictionary(broken_dictionary, tmp_path, capsys):
    from tests.train.sae_fixtures import planted_activations, planted_atoms, write_activation_folder

    acts = write_activation_folder(tmp_path / "acts", planted_activations(planted_atoms(16, 32), 300), layer=1)
    _fails_cleanly(["train", "sae", "--activations", str(acts), "--dictionary", str(broken_dictionary), "--k", "2",
                    "--expansion", "2", "--steps", "2", "--batch-size", "64", "--buffer-rows", "128",
                    "--out", str(tmp_path / "sae")], capsys, str(broken_dictionary / "dictionary.safetensors"))
    assert not (tmp_path / "sae" / "sae.safetensors").exists()


def test_a_truncated_sae_folder_is_an_input_error(tmp_path):
    from train.sae.model import SAEShape, SparseAutoencoder, load_sae, save_sae

    folder = tmp_path / "sae"
    folder.mkdir()
    save_sae(SparseAutoencoder(SAEShape(dim=8, width=16, arch="topk", k=2)), folder)
    shutil.copy(folder / "sae.safetensors", tmp_path / "good.safetensors")
    _corrupt(folder / "sae.safetensors")
    with pytest.raises(InputError, match=re.escape(str(folder / "sae.safetensors")) + ": not a readable"):
        load_sae(folder)
    (folder / "sae.json").write_text(json.dumps({"dim": 4, "width": 8, "arch": "topk", "k": 2}))
    shutil.copy(tmp_path / "good.safetensors", folder / "sae.safetensors")
    with pytest.raises(InputError, match="does not match .*sae.json"):
        load_sae(folder)
