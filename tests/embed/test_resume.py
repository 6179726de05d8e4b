"""Resumption: after a crash (an exception, or kill -9) a rerun skips complete shards and ends identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq

from embed import EmbedConfig, read_embeddings, run
from tests.embed import fakes
from tests.embed.fakes import FakeBuilder


def config(corpus, out, **options):
    return EmbedConfig(inputs=(corpus,), out=out, shard_size=10, progress=False, **options)


def test_rerun_after_crash_skips_complete_shards_and_matches(tmp_path, corpus):
    reference = run(config(corpus, tmp_path / "ref"), builder=FakeBuilder(name="ref"))
    try:
        run(config(corpus, tmp_path / "out"), builder=FakeBuilder(fail_after=3, name="crash"))
    except RuntimeError as err:
        assert "simulated crash" in str(err)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert not manifest["complete"]
    assert [s["complete"] for s in manifest["shards"]] == [True, True, True, False]
    fakes.CALLS["resume"] = []
    resumed = run(config(corpus, tmp_path / "out"), builder=FakeBuilder(name="resume"))
    assert fakes.CALLS["resume"] == [10, 10, 3]  # shards 3, 4, 5 only
    assert resumed.ids == reference.ids and len(set(resumed.ids)) == 53
    assert np.array_equal(resumed.vectors, reference.vectors)
    assert resumed.manifest["complete"] and resumed.manifest["records"] == 53


def test_complete_folder_is_reused_without_encoding(tmp_path, corpus):
    run(config(corpus, tmp_path / "out"), builder=FakeBuilder(name="first"))
    fakes.CALLS["again"] = []
    again = run(config(corpus, tmp_path / "out"), builder=FakeBuilder(name="again"))
    assert fakes.CALLS["again"] == [] and len(again.ids) == 53


_CHILD = """
import sys, time
from embed import EmbedConfig, run
from tests.embed import fakes

class SlowBuilder(fakes.FakeBuilder):
    def __call__(self):
        encoder = super().__call__()
        plain = encoder.encode
        def slow(items, progress=None):
            time.sleep(0.4)
            return plain(items, progress)
        encoder.encode = slow
        return encoder

run(EmbedConfig(inputs=(sys.argv[1],), out=sys.argv[2], shard_size=10, progress=False), builder=SlowBuilder())
"""


def test_kill_9_mid_run_then_rerun_is_identical(tmp_path, corpus):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, corpus, str(out)], env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        path = out / "manifest.json"
        if path.exists() and sum(s["complete"] for s in json.loads(path.read_text())["shards"]) >= 2:
            break
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = [s for s in json.loads((out / "manifest.json").read_text())["shards"] if s["complete"]]
    assert 2 <= len(done) < 6, "the child should have been killed mid-run"
    for shard in done:  # every shard listed complete is a whole Parquet file
        assert pq.read_table(out / shard["name"]).num_rows == shard["rows"]
    resumed = run(config(corpus, out), builder=FakeBuilder(name="after-kill"))
    reference = run(config(corpus, tmp_path / "ref"), builder=FakeBuilder(name="ref2"))
    assert resumed.ids == reference.ids
    assert np.array_equal(read_embeddings(out).vectors, reference.vectors)
    assert not list(out.glob(".part-*"))
