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
