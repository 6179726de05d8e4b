"""`curate train sae` refuses bad input with a message naming the option and the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.errors import ConfigError, InputError
from tests.train.sae_fixtures import planted_activations, planted_atoms, write_activation_folder, write_dictionary
from train.sae import SAEConfig, run


@pytest.fixture(scope="module")
def acts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sae-in")
    atoms = planted_atoms(16, 8)
    write_activation_folder(folder / "acts", planted_activations(atoms, 600), layer=1)
    write_dictionary(folder / "dict", atoms[:4], ["undesirable", "desirable", "neutral", "neutral"], layer=1)
    return folder


def _run(folder, tmp_path, **kw):
    base = dict(activations=folder / "acts", out=tmp_path / "out", dictionary=folder / "dict",
                init="dictionary", k=2, expansion=2, steps=2, batch_size=64, buffer_rows=256, checkpoint_every=0)
    return run(SAEConfig(**{**base, **kw}))


def test_dictionary_dimension_must_match(acts, tmp_path):
    write_dictionary(tmp_path / "wide", planted_atoms(4, 12), ["neutral"] * 4, layer=1)
    with pytest.raises(InputError, match="12-d but the activations .* are 8-d"):
        _run(acts, tmp_path, dictionary=tmp_path / "wide")


def test_dictionary_layer_must_match(acts, tmp_path):
    write_dictionary(tmp_path / "l3", planted_atoms(4, 8), ["neutral"] * 4, layer=3)
    with pytest.raises(InputError, match="layers \\[3\\], not for the activations' layer 1"):
        _run(acts, tmp_path, dictionary=tmp_path / "l3")


def test_layer_option_must_match_activations(acts, tmp_path):
    with pytest.raises(InputError, match="--layer 2: .* taken at layer 1"):
        _run(acts, tmp_path, layer=2)


def test_k_larger_than_width(acts, tmp_path):
    with pytest.raises(ConfigError, match="--k 17 with width 16"):
        _run(acts, tmp_path, k=17)


def test_more_concepts_than_latents(acts, tmp_path):
    write_dictionary(tmp_path / "big", planted_atoms(20, 8), ["neutral"] * 20, layer=1)
    with pytest.raises(ConfigError, match="20 dictionary concepts do not fit in 16 latents"):
        _run(acts, tmp_path, dictionary=tmp_path / "big")


def test_empty_shards(tmp_path):
    write_activation_folder(tmp_path / "empty", np.zeros((0, 8), np.float32), dim=8)
    with pytest.raises(InputError, match="hold no activations"):
        run(SAEConfig(activations=tmp_path / "empty", out=tmp_path / "out", init="random", steps=1))


def test_pooled_vectors_are_refused(acts, tmp_path):
    folder = write_activation_folder(tmp_path / "pooled", planted_activations(planted_atoms(16, 8), 50))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "pooling": "mean"}))
    with pytest.raises(InputError, match="--pooling none"):
        run(SAEConfig(activations=folder, out=tmp_path / "out", init="random", steps=1))


def test_incomplete_shards_and_missing_folder(acts, tmp_path):
    folder = write_activation_folder(tmp_path / "half", planted_activations(planted_atoms(16, 8), 50))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["shards"][0]["complete"] = False
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="not complete"):
        run(SAEConfig(activations=folder, out=tmp_path / "out", init="random", steps=1))
    with pytest.raises(InputError, match="no such folder"):
        run(SAEConfig(activations=tmp_path / "nope", out=tmp_path / "out", init="random", steps=1))


def test_option_checks():
    with pytest.raises(ConfigError, match="--init dictionary needs --dictionary"):
        SAEConfig(activations="a", out="o", init="dictionary")
    assert SAEConfig(activations="a", out="o").init == "random"
    assert SAEConfig(activations="a", out="o", dictionary="d").init == "random"  # the measured default
    assert SAEConfig(activations="a", out="o", dictionary="d", init="dictionary").init == "dictionary"
    with pytest.raises(ConfigError, match="--k 0"):
        SAEConfig(activations="a", out="o", init="random", k=0)
    with pytest.raises(ConfigError, match="--buffer-rows 10 is below --batch-size 64"):
        SAEConfig(activations="a", out="o", init="random", batch_size=64, buffer_rows=10)


def test_finished_output_is_not_overwritten(acts, tmp_path):
    _run(acts, tmp_path)
    with pytest.raises(ConfigError, match="--overwrite"):
        _run(acts, tmp_path)
    assert _run(acts, tmp_path, overwrite=True)["steps"] == 2


def test_cli(acts, tmp_path):
    from click.testing import CliRunner

    from curate.cli import cli

    result = CliRunner().invoke(cli, ["train", "sae", "--activations", str(acts / "acts"), "--dictionary",
                                      str(acts / "dict"), "--k", "2", "--expansion", "2", "--steps", "3",
                                      "--batch-size", "64", "--buffer-rows", "256", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "trained 3 steps" in result.output and "atoms" in result.output
    assert (tmp_path / "cli" / "annotations.parquet").is_file()
