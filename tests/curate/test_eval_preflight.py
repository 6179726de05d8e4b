"""The evaluation checks its --judge file and the k of a --steer folder before any model work, however it is
run (`curate eval`, a `curate run` recipe, run() itself)."""

from __future__ import annotations

import json

import pytest

from curate.cli import main
from curate.evaluation.judges.artefact import ARTEFACT_VERSION, DEFAULT_JUDGE
from curate.evaluation.verdicts import VERDICTS

MODEL_LOADED = "a model was loaded"


@pytest.fixture
def no_model(monkeypatch):
    """Loading the model or generating raises: a check that comes after either fails the test."""
    import curate.lm.generation
    import curate.models

    def model_work(*args, **kwargs):
        raise RuntimeError(MODEL_LOADED)

    monkeypatch.setattr(curate.models, "load_causal_lm", model_work)
    monkeypatch.setattr(curate.lm.generation, "generate", model_work)


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"question {i}?"}) + "\n" for i in range(3)))
    return path


def _eval(prompts, out, *extra: str) -> list[str]:
    return ["eval", "--model", "tiny-unused", "--prompts", str(prompts), "--out", str(out), "--no-progress", *extra]


def _error(argv: list[str], capsys) -> str:
    """The one-line error of a command that must stop with exit 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def _judge_file(**entries) -> str:
    """A judge file's JSON text: the shipped kind and version unless `entries` say otherwise."""
    payload = {"kind": "rules", "version": ARTEFACT_VERSION, "verdicts": list(VERDICTS), "parameters": {}}
    return json.dumps({**payload, **entries})


# case -> (judge.json text, what the error says)
JUDGES = {
    "bad JSON": ('{"kind": "rules", "vers', "judge.json: not a readable JSON file"),
    "wrong version": (_judge_file(version=ARTEFACT_VERSION - 1), f"judge file version {ARTEFACT_VERSION - 1}"),
    "missing safetensors": (_judge_file(kind="linear", tensors={"file": "judge.safetensors", "sha256": "0" * 64}),
                            "judge.safetensors: missing"),
}


@pytest.mark.parametrize("case", JUDGES)
def test_a_bad_judge_file_fails_before_the_model_loads(case, tmp_path, prompts, no_model, capsys):
    text, message = JUDGES[case]
    judge = tmp_path / "judge.json"
    judge.write_text(text)
    out = tmp_path / "eval"
    err = _error(_eval(prompts, out, "--judge", str(judge)), capsys)
    assert message in err and str(tmp_path) in err, err
    assert not out.exists()  # nothing written that could look like (part of) an evaluation


def test_a_good_judge_file_passes_the_check(tmp_path, prompts, no_model):
    """The other side: with a judge that loads, the run goes on to the model (here, the stub that raises)."""
    with pytest.raises(RuntimeError, match=MODEL_LOADED):
        main(_eval(prompts, tmp_path / "eval", "--judge", str(DEFAULT_JUDGE)))


def _dictionary(folder, steering: dict | None):
    from tests.train.sae_fixtures import planted_atoms, write_dictionary

    labels = ["undesirable", "desirable"] + ["neutral"] * 6  # 8 atoms per layer
    write_dictionary(folder, planted_atoms(len(labels), 32), labels, layer=1)
    if steering is not None:
        (folder / "steering.json").write_text(json.dumps(steering))
    return folder


def test_a_k_above_the_dictionary_s_atoms_is_an_error(tmp_path, prompts, no_model, capsys):
    folder = _dictionary(tmp_path / "dict", {"k": 12, "strength": 1.0})
    err = _error(_eval(prompts, tmp_path / "eval", "--steer", str(folder)), capsys)
    assert str(folder / "steering.json") in err and "k 12" in err and "between 1 and 8" in err, err
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("steering", [{"k": 8}, {"k": 12, "method": "lasso", "alpha": 0.1}, None],
                         ids=["k at the maximum", "lasso ignores k", "no steering.json"])
def test_a_k_the_dictionary_can_give_passes_the_check(steering, tmp_path, prompts, no_model):
    folder = _dictionary(tmp_path / "dict", steering)
    with pytest.raises(RuntimeError, match=MODEL_LOADED):
        main(_eval(prompts, tmp_path / "eval", "--steer", str(folder)))


def test_steering_json_that_is_not_an_object(tmp_path, prompts, no_model, capsys):
    folder = _dictionary(tmp_path / "dict", None)
    (folder / "steering.json").write_text("[8]")
    err = _error(_eval(prompts, tmp_path / "eval", "--steer", str(folder)), capsys)
    assert "steering.json" in err and "not an object" in err, err


def test_the_recipe_path_checks_the_judge_before_the_model(tmp_path, prompts, no_model, capsys):
    """The checks live in the evaluation, not the command: `curate run` and run() itself get them too."""
    import yaml

    from curate.errors import InputError
    from curate.evaluation.config import EvalConfig
    from curate.evaluation.run import run

    judge = tmp_path / "judge.json"
    judge.write_text(JUDGES["bad JSON"][0])
    with pytest.raises(InputError, match="judge.json: not a readable JSON file"):
        run(EvalConfig(out=tmp_path / "direct", model="tiny-unused", prompts=str(prompts), judge_path=judge,
                       progress=False))
    assert not (tmp_path / "direct").exists()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "report": False, "stages": [
        {"stage": "eval", "out": "eval", "model": "tiny-unused", "prompts": str(prompts), "judge_path": str(judge),
         "progress": False}]}))
    err = _error(["run", str(recipe)], capsys)
    assert "stage 'eval'" in err and "judge.json: not a readable JSON file" in err, err
    assert not (tmp_path / "run" / "eval").exists()


def test_the_judge_file_is_read_once(tmp_path, prompts, no_model, monkeypatch):
    import curate.evaluation.judges.artefact as artefact

    reads = []
    original = artefact.load_judge
    monkeypatch.setattr(artefact, "load_judge", lambda path, *a, **kw: reads.append(path) or original(path, *a, **kw))
    with pytest.raises(RuntimeError, match=MODEL_LOADED):
        main(_eval(prompts, tmp_path / "eval", "--judge", str(DEFAULT_JUDGE)))
    assert reads == [DEFAULT_JUDGE]


def test_load_controller_checks_the_k_of_steering_json(tmp_path):
    """Any caller of the loader gets the check; a k the caller passes replaces the file's and is not its to judge."""
    from concepts.steering import load_controller
    from curate.errors import ConfigError

    folder = _dictionary(tmp_path / "dict", {"k": 9, "strength": 1.0})
    with pytest.raises(ConfigError, match=r"steering.json: k 9, .* 8 atoms per layer; set k between 1 and 8"):
        load_controller(folder)
    assert load_controller(folder, k=4).options["k"] == 4
    assert load_controller(folder, method="lasso", alpha=0.1).options["method"] == "lasso"
