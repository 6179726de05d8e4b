"""`curate run recipe.yaml`: configs built strictly from YAML, the run/skip plan, resume after a crash, reruns of
changed stages and what reads them, and one real tiny recipe (SOT on a tiny encoder -> export -> SFT -> report).

The plan tests run fake stages (a config dataclass and a runner in this module, registered in STAGES), so they
test the recipe's own logic in milliseconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from curate.cli import main
from curate.config import StageConfig
from curate.errors import ConfigError
from curate.recipe import STAGES, RunConfig, load_recipe, parse_recipe, plan, run
from curate.recipe.stages import StageSpec
from transport.config import SOTConfig

ROOT = Path(__file__).resolve().parents[1]
CALLS: list[str] = []
"""Names of the fake stages' runs, in order."""


@dataclass(frozen=True)
class FakeConfig(StageConfig):
    out: Path
    """Output file."""
    value: int = 0
    """Written into the output."""
    source: str | None = None
    """An input file or an earlier stage's output, copied into the output."""
    crash: bool = False
    """Raise half way, after writing a partial output (a killed run)."""


def fake_run(config: FakeConfig) -> dict:
    CALLS.append(Path(config.out).stem)
    if Path(config.out).exists() and not config.overwrite:
        raise ConfigError(f"{config.out} exists; pass --overwrite to replace it or choose another --out")
    text = f"{config.value}\n" + (Path(config.source).read_text() if config.source else "")
    Path(config.out).parent.mkdir(parents=True, exist_ok=True)
    Path(config.out).write_text("partial" if config.crash else text)
    if config.crash:
        raise RuntimeError("killed")
    return {"value": config.value}


@pytest.fixture
def fake_stages(monkeypatch):
    CALLS.clear()
    monkeypatch.setitem(STAGES, "fake", StageSpec("tests.test_recipe:FakeConfig", "tests.test_recipe:fake_run",
                                                  "{name}.txt"))


def write_recipe(tmp_path: Path, stages: list[dict], **top) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "report": False, "stages": stages, **top}))
    return path


def three_stages(**b) -> list[dict]:
    """a; b reads a; c is independent."""
    return [{"stage": "fake", "name": "a", "value": 1},
            {"stage": "fake", "name": "b", "source": "${a}", **b},
            {"stage": "fake", "name": "c", "value": 3}]


def actions(path: Path, overwrite: bool = False) -> dict[str, str]:
    return {s.stage.name: ("run: " if s.run else "skip: ") + s.reason for s in plan(load_recipe(path), overwrite)}


def test_second_run_skips_every_complete_stage(tmp_path, fake_stages):
    recipe = write_recipe(tmp_path, three_stages())
    run(RunConfig(recipe))
    assert CALLS == ["a", "b", "c"]
    assert (tmp_path / "run" / "b.txt").read_text() == "0\n1\n"
    stamp = json.loads((tmp_path / "run" / "a.txt.stage.json").read_text())
    assert stamp["stage"] == "fake" and stamp["config"]["value"] == 1 and stamp["summary"] == {"value": 1}
    assert set(actions(recipe).values()) == {"skip: complete, config unchanged"}
    run(RunConfig(recipe))
    assert CALLS == ["a", "b", "c"]  # nothing ran again


def test_changed_config_reruns_the_stage_and_what_reads_it(tmp_path, fake_stages):
    recipe = write_recipe(tmp_path, three_stages())
    run(RunConfig(recipe))
    stages = three_stages()
    stages[0]["value"] = 2
    write_recipe(tmp_path, stages)
    plan_now = actions(recipe)
    assert plan_now["a"] == "run: changed since its last run: value 1 -> 2"
    assert plan_now["b"] == "run: it reads a, which runs first"
    assert plan_now["c"] == "skip: complete, config unchanged"
    CALLS.clear()
    run(RunConfig(recipe))
    assert CALLS == ["a", "b"]  # the recipe wrote a.txt before, so it replaces it without --overwrite
    assert (tmp_path / "run" / "b.txt").read_text() == "0\n2\n"
    assert set(actions(recipe).values()) == {"skip: complete, config unchanged"}


def test_a_crashed_run_resumes_at_the_stage_it_was_in(tmp_path, fake_stages):
    recipe = write_recipe(tmp_path, three_stages(crash=True))
    with pytest.raises(RuntimeError, match="killed"):
        run(RunConfig(recipe))
    assert CALLS == ["a", "b"] and not (tmp_path / "run" / "b.txt.stage.json").exists()
    write_recipe(tmp_path, three_stages())
    plan_now = actions(recipe)
    assert plan_now["a"].startswith("skip") and plan_now["b"].startswith("run: its output has no stamp")
    # b's partial output has no stamp: the stage itself refuses it, and the message says what to do
    with pytest.raises(ConfigError, match=r"stage 'b' \(fake\): .*exists.*without a stamp.*--overwrite"):
        run(RunConfig(recipe))
    (tmp_path / "run" / "b.txt").unlink()
    CALLS.clear()
    run(RunConfig(recipe))
    assert CALLS == ["b", "c"]


def test_modified_outputs_and_inputs_rerun(tmp_path, fake_stages):
    source = tmp_path / "input.txt"
    source.write_text("v1")
    recipe = write_recipe(tmp_path, [{"stage": "fake", "name": "a", "source": str(source)},
                                     {"stage": "fake", "name": "b"}])
    run(RunConfig(recipe))
    source.write_text("version 2")
    (tmp_path / "run" / "b.txt").write_text("edited by hand")
    plan_now = actions(recipe)
    assert plan_now["a"].startswith("run: changed since its last run: file ")
    assert plan_now["b"] == "run: its output was modified after the stage finished"
    assert set(actions(recipe, overwrite=True).values()) == {"run: --overwrite reruns every stage"}


def test_dry_run_runs_nothing_and_prints_the_plan(tmp_path, fake_stages, capsys):
    recipe = write_recipe(tmp_path, three_stages())
    main(["run", str(recipe), "--dry-run"])
    out = capsys.readouterr().out
    assert CALLS == [] and not (tmp_path / "run").exists()
    assert "3 of 3 stages to run" in out and re.search(r"run\s+b\s+it reads a, which runs first", out)


def test_recipe_errors_name_the_stage_and_key(tmp_path, fake_stages):
    def error(stages, **top):
        with pytest.raises(ConfigError) as info:
            parse_recipe({"out": "runs/x", "stages": stages, **top}, "r.yaml")
        return str(info.value)

    assert "stage 1 'sot-weight' (sot-weight): unknown option 'keep_fracton'; did you mean keep_fraction" in error(
        [{"stage": "sot-weight", "keep_fracton": 0.5}])
    assert "unknown stage 'sot-weigth'" in error([{"stage": "sot-weigth"}])
    assert "method: 'best' is not one of 'sot'" in error([{"stage": "sot-weight", "method": "best"}])
    assert "eps: 'small' is not a number" in error([{"stage": "sot-weight", "eps": "small"}])
    assert "--keep-fraction must be in (0, 1]" in error([{"stage": "sot-weight", "keep_fraction": 2}])
    assert "stage 1 'export' (export): missing input" in error([{"stage": "export"}])
    assert "${sot} names no earlier stage" in error([{"stage": "export", "input": "${sot}"}])
    assert "the name 'fake' is taken" in error([{"stage": "fake"}, {"stage": "fake"}])
    assert "has no use for 'device'" in error([{"stage": "export", "input": "w.parquet", "device": "cpu"}])
    assert "defaults colour: no stage of this recipe" in error([{"stage": "fake"}], defaults={"colour": 1})
    assert "unknown key(s) stagez" in error([{"stage": "fake"}], stagez=[])


def test_configs_are_the_commands_configs(tmp_path):
    recipe = parse_recipe({"out": "runs/x", "defaults": {"threads": 1, "seed": 3}, "stages": [
        {"stage": "sot-weight", "model": "minilm", "keep-fraction": 0.8},
        {"stage": "sot-weight", "name": "nested", "embed": {"batch_size": 16}, "seed": 4},
        {"stage": "train sft", "data": "${sot-weight}", "max_steps": 5},
        {"stage": "steer", "dictionary": "d", "prompt": "Hi"}]})
    sot, nested, sft, steer, report = (s.config for s in recipe.stages)
    assert sot == SOTConfig(out=Path("runs/x/sot-weight.parquet"), keep_fraction=0.8, threads=1, seed=3)
    assert nested.embed.batch_size == 16 and nested.seed == 4 and nested.threads == 1
    assert sft.data == "runs/x/sot-weight.parquet" and recipe.stages[2].deps == ["sot-weight"]
    assert steer.prompt == ("Hi",) and recipe.stages[3].out == Path("runs/x/steer.json")
    assert report.run == Path("runs/x") and recipe.stages[-1].deps == ["sot-weight", "nested", "train-sft", "steer"]


def test_examples_parse_and_demo_is_the_makefile_demo():
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        assert load_recipe(path).stages, path
    demo = load_recipe(ROOT / "examples" / "demo.yaml")
    assert [s.kind for s in demo.stages] == ["sot-weight", "sot-weight", "report"]
    data = {"data": "registry:sot-test-5", "safe": "registry:sot-test-anchor", "harmful": "registry:sot-test-reference"}
    assert demo.stages[0].config == SOTConfig(out=Path("runs/demo/weighted.parquet"), **data)
    assert demo.stages[1].config == SOTConfig(out=Path("runs/demo/push-only.parquet"), method="push-only",
                                              features="joint", eps=0.02, tau=0.2, **data)
    assert demo.stages[2].out == Path("runs/demo/report.html")
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^demo:.*?(?=^\S)", makefile + "\nend:", re.S | re.M).group(0)
    flags = " ".join(f"--{key} {value}" for key, value in data.items())
    assert f"DEMO_DATA := {flags}\n" in makefile
    assert "curate sot-weight --overwrite $(DEMO_DATA) --out runs/demo/weighted.parquet\n" in target
    assert ("curate sot-weight --overwrite $(DEMO_DATA) --method push-only --features joint --eps 0.02 --tau 0.2 "
            "--out runs/demo/push-only.parquet") in target
    assert "curate report runs/demo --out runs/demo/report.html" in target


@pytest.mark.slow
def test_real_tiny_recipe_sot_export_sft_report(tmp_path, tiny_text_model, tiny_lm_model, one_torch_thread):
    rows = [{"prompt": f"question {i}", "response": f"bad answer {i}" if i < 3 else f"fine answer {i}"}
            for i in range(24)]
    files = {}
    for name, chosen in (("corpus", rows), ("safe", rows[3:12]), ("harmful", rows[:3])):
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in chosen))
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "defaults": {"device": "cpu", "progress": False},
                                      "stages": [
        {"stage": "sot-weight", "out": "weighted.parquet", "data": str(files["corpus"]), "safe": str(files["safe"]),
         "harmful": str(files["harmful"]), "model": str(tiny_text_model), "max_outer": 5},
        {"stage": "export", "input": "${sot-weight}", "out": "top.jsonl", "mode": "topk", "schema": "trl"},
        {"stage": "train sft", "data": "${sot-weight}", "model": str(tiny_lm_model), "out": "sft",
         "weight_column": "sot_weight", "max_steps": 2, "batch_size": 4, "max_length": 48}]}))
    outcome = run(RunConfig(recipe))
    assert outcome["ran"] == ["sot-weight", "export", "train-sft", "report"]
    html = (tmp_path / "run" / "report.html").read_text()
    kinds = re.findall(r'class="report-section" data-kind="([a-z]+)"', html)
    assert kinds == ["pipeline", "corpus", "export", "trainer"]  # in the order the stages ran
    assert json.loads((tmp_path / "run" / "sft" / "metrics.json").read_text())["steps"] == 2
    assert run(RunConfig(recipe))["ran"] == []  # complete: a rerun does nothing
