"""`curate build-dictionary --dask local:2`: the embedding and activation stages run on one process cluster
(tiny models loaded by path in each worker) and the dictionary equals the local build's."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from concepts import load_dictionary
from concepts.build import run
from concepts.config import BuildConfig
from tests.concepts.test_build import TOPICS

pytest.importorskip("distributed")


def test_build_on_a_process_cluster_equals_the_local_build(tmp_path, tiny_lm_model, tiny_text_model):
    rows = [{"id": f"{t}-{k}", "text": s} for t, sentences in TOPICS.items() for k, s in enumerate(sentences)]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    concepts = tmp_path / "concepts.txt"
    concepts.write_text("bomb\tan explosive weapon\nbread\tfood made from flour\nriver\tflowing water\n")
    common = dict(concepts=str(concepts), pool=str(pool), model=str(tiny_lm_model), layers="1,2",
                  retrieval_model=str(tiny_text_model), positives=2, negatives=2, candidates=4, background=8,
                  min_similarity=-1.0, label_data=False, progress=False, device="cpu")
    local = run(BuildConfig(out=tmp_path / "local", **common))
    distributed = run(BuildConfig(out=tmp_path / "dask", dask="local:2", **common))
    assert distributed["n_concepts"] == local["n_concepts"] and distributed["unique_stimuli"] == local["unique_stimuli"]
    a, b = load_dictionary(tmp_path / "local"), load_dictionary(tmp_path / "dask")
    assert b.layers == a.layers == [1, 2]
    for layer in a.layers:
        np.testing.assert_allclose(b.atoms[layer].numpy(), a.atoms[layer].numpy(), atol=1e-5, rtol=0)
    assert b.concepts["name"].to_list() == a.concepts["name"].to_list()
    stimuli = [pl.read_parquet(tmp_path / side / "stimuli.parquet").sort("concept_id", "role", "stimulus_id")
               for side in ("local", "dask")]
    assert stimuli[0]["stimulus_id"].to_list() == stimuli[1]["stimulus_id"].to_list()
    # the stages embedded on the workers: their shards carry the manifest the runner writes, and the saved config
    # keeps --dask as given (not the address of the cluster the build started and stopped)
    assert all(json.loads(m.read_text())["complete"] for m in (tmp_path / "dask" / "work").rglob("manifest.json"))
    assert json.loads((tmp_path / "dask" / "build_config.json").read_text())["dask"] == "local:2"
