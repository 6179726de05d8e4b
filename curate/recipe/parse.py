"""A recipe file: YAML naming the stages in order, their options, and where their outputs go.

    out: runs/demo                      # every relative stage output goes inside this folder
    defaults: {threads: 1}              # options given to every stage that has them (a stage's own keys win)
    stages:
      - stage: sot-weight               # a command: embed, sot-weight, export, train sft, eval, ...
        out: weighted.parquet           # -> runs/demo/weighted.parquet
      - stage: export
        input: ${sot-weight}            # ${NAME} is the output of the earlier stage called NAME
        out: top.jsonl
        mode: topk
    report: {max_rows: 2000}            # the closing report's options (false: no report)

A stage's `name` defaults to its stage; give one when a stage appears twice. Other paths are as on the command line.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import ConfigError, InputError
from curate.recipe.configs import build_config, option_names
from curate.recipe.stages import STAGES, StageSpec, load, stage_spec

__all__ = ["Recipe", "Stage", "load_recipe", "parse_recipe"]

TOP_LEVEL = ("out", "stages", "defaults", "report")
REFERENCE = re.compile(r"\$\{([^}]+)\}")


@dataclass
class Stage:
    name: str
    kind: str
    """The stage (a key of curate.recipe.stages.STAGES)."""
    spec: StageSpec
    config: Any
    """The stage's config dataclass, built from the recipe."""
    out: Path
    deps: list[str] = field(default_factory=list)
    """Names of the earlier stages whose outputs this one reads (through ${NAME})."""


@dataclass
class Recipe:
    path: Path
    out: Path
    stages: list[Stage]


def _where(path: Path, index: int, name: str, kind: str) -> str:
    return f"recipe {path}, stage {index + 1} '{name}' ({kind})"


def _substitute(value: Any, outputs: dict[str, Path], where: str, deps: list[str]) -> Any:
    """Replace ${NAME} in every string of `value` by stage NAME's output (recording NAME in deps)."""
    if isinstance(value, dict):
        return {k: _substitute(v, outputs, where, deps) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, outputs, where, deps) for v in value]
    if not isinstance(value, str):
        return value

    def output_of(match: re.Match) -> str:
        name = match.group(1).strip()
        if name not in outputs:
            known = ", ".join(outputs) or "none yet"
            raise ConfigError(f"{where}: ${{{name}}} names no earlier stage (stages run in file order; earlier "
                              f"ones: {known})")
        if name not in deps and name != "out":
            deps.append(name)
        return str(outputs[name])

    return REFERENCE.sub(output_of, value)


def _entry(raw: Any, index: int, path: Path) -> tuple[str, str, StageSpec, dict]:
    """(name, stage, spec, options) of one `stages:` item."""
    if not isinstance(raw, dict) or "stage" not in raw:
        raise ConfigError(f"recipe {path}: stage {index + 1} must be a mapping with a `stage:` key "
                          f"(one of {', '.join(STAGES)}); got {raw!r}")
    options = dict(raw)
    kind = str(options.pop("stage"))
    spec = stage_spec(kind)
    if spec is None:
        raise ConfigError(f"recipe {path}: stage {index + 1}: unknown stage '{kind}'; stages: {', '.join(STAGES)}")
    kind = next(k for k, s in STAGES.items() if s is spec)
    return str(options.pop("name", kind)), kind, spec, options


def _with_defaults(cls: type, options: dict, defaults: dict) -> dict:
    """Defaults for the options this stage has, under the stage's own (spelled either way)."""
    own = {str(k).replace("-", "_") for k in options}
    known = set(option_names(cls))
    return {**{k: v for k, v in defaults.items() if k.replace("-", "_") in known and k.replace("-", "_") not in own},
            **options}


def _output(spec: StageSpec, options: dict, name: str, root: Path) -> Path:
    out = Path(str(options.get("out") or spec.default_out.format(name=name)))
    return out if out.is_absolute() else root / out


def _stage(raw: Any, index: int, recipe: Path, root: Path, defaults: dict, outputs: dict[str, Path]) -> Stage:
    name, kind, spec, options = _entry(raw, index, recipe)
    where = _where(recipe, index, name, kind)
    if name in outputs:
        raise ConfigError(f"{where}: the name '{name}' is taken by an earlier stage; give this one `name: ...`")
    cls = load(spec.config)
    deps: list[str] = []
    options = _substitute(_with_defaults(cls, options, defaults), outputs, where, deps)
    out = _output(spec, options, name, root)
    if spec.writes_result:
        options.pop("out", None)
    else:
        options["out"] = str(out)
    return Stage(name, kind, spec, build_config(cls, options, where, spec.names), out, deps)


def _report(raw: Any, recipe: Path, root: Path, stages: list[Stage]) -> Stage | None:
    """The closing report over the whole out folder, unless the recipe ends with its own or says `report: false`."""
    if raw is False or (stages and stages[-1].kind == "report"):
        return None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"recipe {recipe}: report must be a mapping of `curate report` options, or false")
    spec = STAGES["report"]
    options = {"run": str(root), "out": str(root / spec.default_out), **(raw or {})}
    config = build_config(load(spec.config), options, f"recipe {recipe}, report")
    config = dataclasses.replace(config, overwrite=True)  # the page is rebuilt from the outputs, nothing is lost
    return Stage("report", "report", spec, config, Path(config.target), [s.name for s in stages])


def _check_defaults(defaults: dict, stages: list[Stage], path: Path) -> None:
    known = {name for stage in stages for name in option_names(type(stage.config))}
    unused = [k for k in defaults if str(k).replace("-", "_") not in known]
    if unused:
        raise ConfigError(f"recipe {path}: defaults {', '.join(map(str, unused))}: no stage of this recipe has "
                          "such an option; remove it or fix its spelling")


def parse_recipe(data: Any, path: str | Path = "<recipe>") -> Recipe:
    """A Recipe from the YAML's value: every stage's config built and checked, references resolved."""
    path = Path(path)
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path}: the file must hold a mapping with `out:` and `stages:`")
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise ConfigError(f"recipe {path}: unknown key(s) {', '.join(map(str, unknown))}; a recipe has "
                          f"{', '.join(TOP_LEVEL)}")
    if not data.get("out") or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise ConfigError(f"recipe {path}: give `out:` (the run folder) and `stages:` (a list of stages)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"recipe {path}: defaults must be a mapping of options, e.g. defaults: {{threads: 1}}")
    root = Path(str(data["out"]))
    outputs: dict[str, Path] = {"out": root}
    stages = []
    for index, raw in enumerate(data["stages"]):
        stage = _stage(raw, index, path, root, defaults, outputs)
        if stage.kind == "report":  # a page over the run folder shows every earlier output
            stage.deps = [s.name for s in stages]
        outputs[stage.name] = stage.out
        stages.append(stage)
    _check_defaults(defaults, stages, path)
    report = _report(data.get("report"), path, root, stages)
    return Recipe(path, root, stages + ([report] if report else []))


def load_recipe(path: str | Path) -> Recipe:
    """Read and parse a recipe YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"recipe {path} does not exist; give a YAML file (see examples/demo.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InputError(f"recipe {path} is not valid YAML: {' '.join(str(err).split())}") from err
    return parse_recipe(data, path)
