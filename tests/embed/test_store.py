"""embed.store reads an embedding folder from a local path, an fsspec URL or a given filesystem alike, and the Dask
shard readers (transport.dask_shards) read through it."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from curate.errors import InputError
from embed.manifest import Manifest
from embed.store import is_embedding_folder, iter_embedding_shards, read_embeddings, read_manifest
from embed.writer import shard_name, write_shard

fsspec = pytest.importorskip("fsspec")


def _write_folder(folder: Path, shards: int = 3, rows: int = 4, dim: int = 5, complete: bool = True):
    """A folder as `curate embed` writes it: shards, then the manifest listing each one complete."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((shards * rows, dim)).astype(np.float32)
    ids = [f"r{k}" for k in range(len(vectors))]
    manifest = Manifest.open(folder, {"model": "test"})
    for index in range(shards):
        part = slice(index * rows, (index + 1) * rows)
        size = write_shard(folder, index, ids[part], vectors[part])
        if complete or index < shards - 1:
            manifest.complete({"index": index, "name": shard_name(index), "rows": rows, "records": rows,
                               "bytes": size}, dim)
        else:
            manifest.begin(index, shard_name(index))
    manifest.finish({"count": 0, "examples": []}, 0.0)
    return ids, vectors


@pytest.fixture
def memory_copy():
    """Copy a local folder into fsspec's in-memory filesystem; removed afterwards."""
    fs = fsspec.filesystem("memory")
    made = []

    def copy(folder: Path) -> str:
        root = f"/store-test-{uuid.uuid4().hex}"
        for path in folder.iterdir():
            fs.pipe(f"{root}/{path.name}", path.read_bytes())
        made.append(root)
        return root

    yield fs, copy
    for root in made:
        fs.rm(root, recursive=True)


def test_a_folder_reads_the_same_from_a_path_a_url_and_a_filesystem(tmp_path, memory_copy):
    ids, vectors = _write_folder(tmp_path / "emb")
    fs, copy = memory_copy
    root = copy(tmp_path / "emb")
    local = read_embeddings(tmp_path / "emb")
    assert isinstance(local.folder, Path) and local.ids == ids
    np.testing.assert_array_equal(local.vectors, vectors)
    for folder, filesystem in ((str(tmp_path / "emb"), None), (f"file://{tmp_path / 'emb'}", None),
                               (f"memory://{root}", None), (root, fs),
                               (str(tmp_path / "emb"), fsspec.filesystem("file"))):
        assert is_embedding_folder(folder, filesystem)
        assert read_manifest(folder, filesystem) == local.manifest
        got = read_embeddings(folder, filesystem)
        assert got.ids == ids and got.vectors.dtype == np.float32
        np.testing.assert_array_equal(got.vectors, vectors)
        shards = list(iter_embedding_shards(folder, filesystem))
        assert [len(i) for i, _ in shards] == [4, 4, 4]
        np.testing.assert_array_equal(np.concatenate([v for _, v in shards]), vectors)


def test_errors_are_the_same_for_a_url_and_a_path(tmp_path, memory_copy):
    _write_folder(tmp_path / "emb", complete=False)
    _, copy = memory_copy
    url = f"memory://{copy(tmp_path / 'emb')}"
    for folder in (tmp_path / "emb", url):
        with pytest.raises(InputError, match="shard part-00002.parquet is not complete"):
            read_embeddings(folder)
        # the complete shards before the unfinished one are read first
        shards = iter_embedding_shards(folder)
        assert len(next(shards)[0]) == 4 and len(next(shards)[0]) == 4
        with pytest.raises(InputError, match="not complete"):
            next(shards)
    for folder in (tmp_path / "none", "memory:///store-test-none"):
        assert not is_embedding_folder(folder)
        with pytest.raises(InputError, match=r"none is not an embedding folder \(no manifest.json\)"):
            read_manifest(folder)
    assert not is_embedding_folder("nosuchprotocol://x/y")


def test_dask_shard_readers_read_through_the_store(tmp_path, memory_copy):
    from transport.dask_shards import embedding_shards, read_ids, read_shard

    ids, vectors = _write_folder(tmp_path / "emb")
    _, copy = memory_copy
    url = f"memory://{copy(tmp_path / 'emb')}"
    for folder in (str(tmp_path / "emb"), url):
        sources = embedding_shards([folder])
        assert [s.rows for s in sources] == [4, 4, 4]
        assert sources[1].parts[0].endswith("/part-00001.parquet") and sources[1].parts[0].startswith(folder)
        assert read_ids(sources[1]) == ids[4:8]
        rows = read_shard(sources[1])
        np.testing.assert_allclose(rows.vectors, vectors[4:8] / np.linalg.norm(vectors[4:8], axis=1, keepdims=True),
                                   rtol=1e-6)
    _write_folder(tmp_path / "half", complete=False)
    with pytest.raises(InputError, match="not complete"):
        embedding_shards([str(tmp_path / "half")])


def test_a_damaged_shard_is_named_for_a_url_and_a_path(tmp_path, memory_copy):
    _write_folder(tmp_path / "emb")
    (tmp_path / "emb" / shard_name(1)).write_bytes(b"not parquet at all")
    _, copy = memory_copy
    for folder in (tmp_path / "emb", f"memory://{copy(tmp_path / 'emb')}"):
        with pytest.raises(InputError, match=r"part-00001.parquet: not a readable Parquet shard .*re-run"):
            read_embeddings(folder)
