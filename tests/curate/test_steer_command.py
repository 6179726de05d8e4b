"""`curate steer`: dictionaries and SAE folders both steer; every check of the folder comes before the model loads."""

from __future__ import annotations

import polars as pl
import pytest

import curate.models
from tests.train.sae_fixtures import planted_atoms, write_dictionary

LABELS = ["undesirable", "undesirable", "desirable"] + ["neutral"] * 9


@pytest.fixture
def no_model_load(monkeypatch):
    """Make loading a causal LM fail loudly: a check that comes after it would show up as this error."""
    def refuse(*args, **kwargs):
        raise RuntimeError("heavy work started: the model was loaded before the checks")

    monkeypatch.setattr(curate.models, "load_causal_lm", refuse)


def _steer(argv: list[str], capsys) -> tuple[int, str, str]:
    from curate.cli import main

    try:
        main(["steer", *argv])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def _fails(argv: list[str], capsys, *needles: str, absent: tuple[str, ...] = ()) -> str:
    code, _, err = _steer(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), err
    for needle in needles:
        assert needle in lines[0], err
    for word in absent:
        assert word not in lines[0], err
    return lines[0]


def _sae_folder(folder, layer: int = 1):
    from train.sae.model import SAEShape, SparseAutoencoder, save_sae

    folder.mkdir(parents=True)
    save_sae(SparseAutoencoder(SAEShape(32, 64, k=4, layer=layer), seed=0), folder)
    labels = ["undesirable"] * 8 + ["desirable"] * 4 + ["neutral"] * 52
    pl.DataFrame({"atom": list(range(64)), "label": labels}).write_parquet(folder / "annotations.parquet")
    return folder


@pytest.fixture
def dictionary(tmp_path):
    return write_dictionary(tmp_path / "dict", planted_atoms(12, 32), LABELS, layer=1)


def test_steer_with_an_sae_folder(tiny_lm_model, tmp_path, capsys):
    sae = _sae_folder(tmp_path / "sae")
    base = ["--dictionary", str(sae), "--prompt", "hi", "--model", str(tiny_lm_model), "--max-new-tokens", "3",
            "--device", "cpu"]
    code, out, err = _steer(base, capsys)
    assert code == 0, err
    assert out.startswith("PROMPT:  hi\nPLAIN:") and "STEERED:" in out
    code, out, err = _steer([*base, "--gamma", "0.5"], capsys)
    assert code == 0 and "STEERED:" in out, err


def test_steer_with_a_dictionary(tiny_lm_model, dictionary, capsys):
    code, out, err = _steer(["--dictionary", str(dictionary), "--prompt", "hi", "--model", str(tiny_lm_model),
                             "--k", "3", "--max-new-tokens", "3", "--device", "cpu"], capsys)
    assert code == 0 and "PLAIN:" in out and "STEERED:" in out, err


def test_dictionary_options_are_refused_for_an_sae_folder(tiny_lm_model, tmp_path, capsys, no_model_load):
    sae = _sae_folder(tmp_path / "sae")
    message = _fails(["--dictionary", str(sae), "--prompt", "hi", "--model", str(tiny_lm_model), "--k", "4",
                      "--strength", "0.5"], capsys, "--k, --strength", "SAE folder", "--gamma", "drop them")
    assert str(sae) in message


def test_gamma_is_refused_for_a_dictionary(tiny_lm_model, dictionary, capsys, no_model_load):
    _fails(["--dictionary", str(dictionary), "--prompt", "hi", "--model", str(tiny_lm_model), "--gamma", "0.5"],
           capsys, "--gamma 0.5", "concept dictionary", "drop --gamma")


def test_no_undesirable_concept_fails_before_the_model_loads(tiny_lm_model, tmp_path, capsys, no_model_load):
    neutral = write_dictionary(tmp_path / "neutral", planted_atoms(12, 32), ["neutral"] * 12, layer=1)
    _fails(["--dictionary", str(neutral), "--prompt", "hi", "--model", str(tiny_lm_model)], capsys,
           "no concept", "undesirable", str(neutral))


def test_k_zero_blames_only_k(tiny_lm_model, dictionary, capsys, no_model_load):
    """The same one check as a k above the atoms: it names the dictionary, the layer and the valid range."""
    message = _fails(["--dictionary", str(dictionary), "--prompt", "hi", "--model", str(tiny_lm_model), "--k", "0"],
                     capsys, "--k 0", "12 atoms at layer 1", "between 1 and 12", absent=("--max-new-tokens",))
    assert str(dictionary) in message


def test_k_above_the_atoms_is_an_error_not_a_clamp(tiny_lm_model, dictionary, capsys, no_model_load):
    _fails(["--dictionary", str(dictionary), "--prompt", "hi", "--model", str(tiny_lm_model), "--k", "13"], capsys,
           "--k 13", "12 atoms at layer 1", "between 1 and 12")


def test_layers_the_model_lacks_fail_before_it_loads(tiny_lm_model, tmp_path, capsys, no_model_load):
    deep = write_dictionary(tmp_path / "deep", planted_atoms(12, 32), LABELS, layer=5)
    _fails(["--dictionary", str(deep), "--prompt", "hi", "--model", str(tiny_lm_model)], capsys,
           "steers layer 5", "hidden_states 1..2")
    wide = write_dictionary(tmp_path / "wide", planted_atoms(12, 48), LABELS, layer=1)
    _fails(["--dictionary", str(wide), "--prompt", "hi", "--model", str(tiny_lm_model)], capsys,
           "48-d", "hidden size 32")
    _fails(["--dictionary", str(_sae_folder(tmp_path / "sae", layer=7)), "--prompt", "hi", "--model",
            str(tiny_lm_model)], capsys, "steers layer 7", "hidden_states 0..2")


def test_layers_option_and_folder_are_checked(tiny_lm_model, dictionary, tmp_path, capsys, no_model_load):
    _fails(["--dictionary", str(dictionary), "--prompt", "hi", "--layers", "a,b"], capsys, "--layers 'a,b'",
           "comma-separated layer numbers")
    _fails(["--dictionary", str(dictionary), "--prompt", "hi", "--model", str(tiny_lm_model), "--layers", "3"],
           capsys, "layers [3] are not in the dictionary")
    _fails(["--dictionary", str(tmp_path / "nope"), "--prompt", "hi"], capsys, "nope does not exist",
           "curate build-dictionary")


def test_the_folder_steering_json_is_used_unless_an_option_is_given(tiny_lm_model, dictionary):
    """`curate steer` passes only the options given, so a dictionary's steering.json (then the library defaults)
    decides the rest: before, its k and strength defaults always overrode the folder's file."""
    from curate.commands.steer import SteerConfig, load_steering

    (dictionary / "steering.json").write_text('{"k": 3, "strength": 0.5, "concepts": "all"}')
    config = SteerConfig(dictionary=dictionary, prompt=("hi",), model=str(tiny_lm_model))
    controller = load_steering(config, "cpu")
    assert (controller.options["k"], controller.options["strength"], int(controller.remove.sum())) == (3, 0.5, 2)
    controller = load_steering(SteerConfig(dictionary=dictionary, prompt=("hi",), model=str(tiny_lm_model), k=2,
                                              strength=-1.0), "cpu")
    assert (controller.options["k"], controller.options["strength"]) == (2, -1.0)


def test_bad_concept_set_is_refused_before_anything(tiny_lm_model, dictionary, capsys, no_model_load):
    _fails(["--dictionary", str(dictionary), "--prompt", "hi", "--model", str(tiny_lm_model), "--concepts", "worst"],
           capsys, "--concepts 'worst'", "all, seed or topN")
