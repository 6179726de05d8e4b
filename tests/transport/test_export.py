import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.errors import ConfigError, InputError
from transport._report import keep_mask, quality
from transport.export import ExportConfig, export, weighted_sampler


@pytest.fixture
def weighted(tmp_path):
    w = np.array([0.1, 2.0, 1.5, 0.4, 1.0])
    table = pa.table({"id": list("abcde"), "prompt": ["p"] * 5, "sot_weight": w, "keep": keep_mask(w, 0.6, None)})
    path = tmp_path / "weighted.parquet"
    pq.write_table(table, path)
    return path


def test_keep_mask_and_quality():
    w = np.array([0.1, 2.0, 1.5, 0.4, 1.0])
    assert keep_mask(w, 0.6, None).tolist() == [False, True, True, False, True]
    assert keep_mask(w, None, 1).sum() == 1
    q = quality(w, np.array([1, 0, 0, 1, 0]))
    assert q["auroc"] == 1.0 and q["precision_at_rate"] == 1.0


def test_export_modes(weighted, tmp_path):
    export(ExportConfig(weighted, tmp_path / "all.jsonl"))
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == list("abcde") and rows[1]["sot_weight"] == 2.0
    export(ExportConfig(weighted, tmp_path / "top.parquet", format="parquet", mode="topk"))
    assert pq.read_table(tmp_path / "top.parquet").column("id").to_pylist() == ["b", "c", "e"]
    a = export(ExportConfig(weighted, tmp_path / "r1.parquet", format="parquet", mode="resample", n=2000, seed=7))
    export(ExportConfig(weighted, tmp_path / "r2.parquet", format="parquet", mode="resample", n=2000, seed=7))
    ids = pq.read_table(tmp_path / "r1.parquet").column("id").to_pylist()
    assert a["rows_out"] == 2000 and ids == pq.read_table(tmp_path / "r2.parquet").column("id").to_pylist()
    share_b = ids.count("b") / 2000  # expected 2.0 / 5.0
    assert abs(share_b - 0.4) < 0.04


def test_export_hf(weighted, tmp_path):
    from datasets import load_from_disk

    export(ExportConfig(weighted, tmp_path / "hf", format="hf", mode="topk"))
    assert len(load_from_disk(str(tmp_path / "hf"))) == 3


def test_weighted_sampler(weighted):
    sampler = weighted_sampler(weighted, num_samples=5000, seed=0)
    draws = np.bincount(list(sampler), minlength=5) / 5000
    assert np.allclose(draws, np.array([0.1, 2.0, 1.5, 0.4, 1.0]) / 5.0, atol=0.03)


def test_export_errors(weighted, tmp_path):
    with pytest.raises(ConfigError, match="--n is only used with --mode resample"):
        ExportConfig(weighted, tmp_path / "x.jsonl", n=3)
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        export(ExportConfig(weighted, weighted, format="parquet"))
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"id": ["a"]}), plain)
    with pytest.raises(InputError, match="no 'sot_weight' column"):
        export(ExportConfig(plain, tmp_path / "y.jsonl"))


# --- the output: format from the extension, an overwrite that deletes only its own files -------------------


def _cli_error(argv: list[str], capsys) -> str:
    from curate.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


def test_format_follows_the_extension(weighted, tmp_path):
    export(ExportConfig(weighted, tmp_path / "top.parquet", mode="topk"))
    assert pq.read_table(tmp_path / "top.parquet").column("id").to_pylist() == ["b", "c", "e"]
    export(ExportConfig(weighted, tmp_path / "all.json"))
    assert [json.loads(line)["id"] for line in (tmp_path / "all.json").read_text().splitlines()] == list("abcde")
    assert ExportConfig(weighted, tmp_path / "hf_data").format == "hf"
    assert ExportConfig(weighted, tmp_path / "TOP.PARQUET").format == "parquet"
    assert ExportConfig(weighted, tmp_path / "rows.txt", format="jsonl").format == "jsonl"


def test_a_format_contradicting_the_extension_names_both(weighted, tmp_path):
    with pytest.raises(ConfigError, match=r"--format jsonl contradicts --out .*top\.parquet.*\.parquet means parquet"):
        ExportConfig(weighted, tmp_path / "top.parquet", format="jsonl")
    with pytest.raises(ConfigError, match=r"--format hf contradicts --out .*d\.jsonl"):
        ExportConfig(weighted, tmp_path / "d.jsonl", format="hf")
    with pytest.raises(ConfigError, match=r"extension '\.csv' names no export format.*pass --format"):
        ExportConfig(weighted, tmp_path / "d.csv")


def test_issue_repro_overwrite_refuses_a_folder_it_did_not_write(weighted, tmp_path, capsys, monkeypatch):
    # mkdir k; cp weighted.parquet k/; echo x > k/notes.txt; curate export k/weighted.parquet --out k --format hf ...
    k = tmp_path / "k"
    k.mkdir()
    (k / "weighted.parquet").write_bytes(weighted.read_bytes())
    (k / "notes.txt").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    message = _cli_error(["export", "k/weighted.parquet", "--out", "k", "--format", "hf", "--mode", "topk",
                          "--overwrite"], capsys)
    assert "--out k" in message and "notes.txt" in message and "weighted.parquet (the input)" in message
    assert "choose a new or empty folder" in message
    assert sorted(p.name for p in k.iterdir()) == ["notes.txt", "weighted.parquet"]
    assert (k / "notes.txt").read_text() == "x\n" and (k / "weighted.parquet").read_bytes() == weighted.read_bytes()


def test_overwrite_replaces_its_own_hf_folder_only(weighted, tmp_path):
    from datasets import load_from_disk

    from transport.export import EXPORT_MARKER

    out = tmp_path / "hf"
    export(ExportConfig(weighted, out, mode="topk"))
    listed = json.loads((out / EXPORT_MARKER).read_text())["files"]
    assert listed and all((out / name).is_file() for name in listed)
    export(ExportConfig(weighted, out, mode="weights", overwrite=True))  # its own output: replaced
    assert len(load_from_disk(str(out))) == 5
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match=r"--out .*hf: refusing to replace .*\(mine\.txt\)"):
        export(ExportConfig(weighted, out, mode="topk", overwrite=True))
    assert (out / "mine.txt").read_text() == "keep me" and len(load_from_disk(str(out))) == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    export(ExportConfig(weighted, empty, mode="topk", overwrite=True))  # an empty folder holds nothing to lose
    assert len(load_from_disk(str(empty))) == 3


def test_output_is_checked_before_reading(weighted, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"notes\.txt is a file, not a folder"):
        export(ExportConfig(tmp_path / "missing.parquet", tmp_path / "notes.txt" / "o.jsonl"))
    with pytest.raises(ConfigError, match=r"is the input"):
        export(ExportConfig(weighted, weighted, overwrite=True))
    with pytest.raises(ConfigError, match=r"is a folder but a file is written there"):
        export(ExportConfig(weighted, tmp_path, format="parquet", overwrite=True))


def test_stale_temporaries_of_a_killed_export_are_removed(weighted, tmp_path):
    import os
    import time

    dead = 10 ** 7  # above any pid_max: no such process
    stale = [tmp_path / f".top.parquet.tmp-{dead}", tmp_path / f".top.export.json.tmp-{dead}-7",
             tmp_path / f".top.parquet.tmp-{os.getpid()}"]
    for path in stale:
        path.write_bytes(b"half a file")
    an_hour_ago = time.time() - 3600  # before this process started: an earlier process with the same PID
    os.utime(stale[2], (an_hour_ago, an_hour_ago))
    other = tmp_path / f".other.parquet.tmp-{dead}"
    other.write_bytes(b"not this output's")
    export(ExportConfig(weighted, tmp_path / "top.parquet", mode="topk"))
    assert not any(p.exists() for p in stale) and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" in p.name) == [other.name]
