"""`curate run recipe.yaml`: plan which stages need to run, run them in order, stamp each one, end with the report.

A stage is skipped when its output is complete and its config (and the outputs it reads) are unchanged, so a run
stopped by a crash or Ctrl-C resumes at the stage it was in. A stage the recipe ran before and whose settings
changed replaces its output; an output with no stamp (not finished, or made by hand) is left to the stage, which
resumes it where it can (embed shards, SFT checkpoints) and otherwise refuses until --overwrite.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.config import StageConfig, config_to_dict
from curate.errors import ConfigError, CurateError
from curate.io import atomic_write_text
from curate.recipe.parse import Recipe, Stage, load_recipe
from curate.recipe.stages import load
from curate.recipe.stamp import config_hash, fingerprint, read_stamp, write_stamp

__all__ = ["RunConfig", "Step", "plan", "run", "stage_state"]


@dataclass(frozen=True)
class RunConfig(StageConfig):
    recipe: Path
    """The recipe YAML: out (the run folder), stages (each a `stage:` and that command's options), optional
    defaults and report (see examples/)."""
    dry_run: bool = False
    """Print the plan (which stages run or are skipped, and why) and stop."""

    unused_fields = ("device", "seed")  # the recipe sets them per stage (or in defaults)
    field_help = {"overwrite": "Rerun every stage and replace its output, complete or not.",
                  "threads": "CPU threads for torch and BLAS in every stage that does not set its own.",
                  "progress": "Show progress bars (--no-progress hides them in every stage)."}


@dataclass
class Step:
    stage: Stage
    run: bool
    reason: str


def _input_files(config: dict, exclude: set[str]) -> list[str]:
    """String values of the config that name existing files (user inputs whose change should rerun the stage)."""
    values = [v for value in config.values() for v in (value if isinstance(value, list) else [value])]
    return sorted({v for v in values if isinstance(v, str) and v not in exclude and Path(v).is_file()})


def stage_state(stage: Stage, outputs: dict[str, Path]) -> tuple[str, dict, dict]:
    """(config hash, config dict, inputs) of a stage as the recipe gives it now; inputs are the stamped
    fingerprints of the stages it reads and the fingerprints of the files it names."""
    config = config_to_dict(stage.config)
    inputs: dict[str, Any] = {f"stage {d}": (read_stamp(outputs[d]) or {}).get("output_fingerprint")
                              for d in stage.deps}
    exclude = {str(stage.out), *(str(outputs[d]) for d in stage.deps)}
    inputs.update({f"file {f}": fingerprint(f) for f in _input_files(config, exclude)})
    return config_hash(config, inputs), config, inputs


def _changes(old: dict, new: dict, limit: int = 4) -> str:
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k) and k != "overwrite"]
    shown = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:limit]]
    return "; ".join(shown) + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _stale(stage: Stage, outputs: dict[str, Path]) -> str | None:
    """Why the stage must run, or None when its output is complete and up to date."""
    if not stage.out.exists():
        return "no output yet"
    stamp = read_stamp(stage.out)
    if stamp is None:
        return "its output has no stamp (an unfinished run, or not made by this recipe)"
    digest, config, inputs = stage_state(stage, outputs)
    if stamp.get("config_hash") != digest:
        what = _changes(stamp.get("config") or {}, config) or _changes(stamp.get("inputs") or {}, inputs)
        return f"changed since its last run: {what or 'settings'}"
    if stamp.get("output_fingerprint") != fingerprint(stage.out):
        return "its output was modified after the stage finished"
    return None


def plan(recipe: Recipe, overwrite: bool = False) -> list[Step]:
    """Run or skip, and why, for every stage in order; a stage whose input is rebuilt runs too."""
    outputs = {s.name: s.out for s in recipe.stages}
    rebuilt: set[str] = set()
    steps = []
    for stage in recipe.stages:
        upstream = [d for d in stage.deps if d in rebuilt]
        if overwrite:
            reason = "--overwrite reruns every stage"
        elif upstream:
            shown = ", ".join(upstream[:3]) + (f" and {len(upstream) - 3} more" if len(upstream) > 3 else "")
            reason = f"it reads {shown}, which {'runs' if len(upstream) == 1 else 'run'} first"
        else:
            reason = _stale(stage, outputs)
        if reason is not None:
            rebuilt.add(stage.name)
        steps.append(Step(stage, reason is not None, reason or "complete, config unchanged"))
    return steps


def _replacing(config, replace: bool, progress: bool = True):
    """The stage's config as run: overwrite when asked, progress off when the run says so. Neither enters the
    stage's config hash (stage_state reads the config as the recipe gives it)."""
    unused = getattr(config, "unused_fields", ())
    changes = {}
    if replace and "overwrite" not in unused:
        changes["overwrite"] = True
    if not progress and "progress" not in unused and hasattr(config, "progress"):
        changes["progress"] = False
    return dataclasses.replace(config, **changes) if changes else config


def _summary(result: Any) -> dict:
    """The JSON-able scalars of a stage's result, for its stamp and the printed line."""
    if isinstance(result, list):
        return {"items": len(result)}
    if not isinstance(result, dict):
        return {}
    return {k: v for k, v in result.items() if isinstance(v, (str, int, float, bool)) and len(str(v)) < 200}


def _run_stage(stage: Stage, outputs: dict[str, Path], overwrite: bool, progress: bool = True) -> dict:
    """Run one stage and stamp it; a stage error is re-raised naming the stage."""
    digest, config, inputs = stage_state(stage, outputs)
    stamped = read_stamp(stage.out) is not None
    started = time.perf_counter()
    try:
        result = load(stage.spec.runner)(_replacing(stage.config, overwrite or stamped, progress))
    except CurateError as err:
        hint = ""
        if isinstance(err, ConfigError) and stage.out.exists() and not (overwrite or stamped):
            hint = ("; curate run found this output without a stamp (not written by a finished run of this "
                    "recipe): move it away, or rerun with --overwrite to replace it")
        raise type(err)(f"stage '{stage.name}' ({stage.kind}): {err}{hint}") from err
    if stage.spec.writes_result:
        atomic_write_text(stage.out, json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    seconds = round(time.perf_counter() - started, 2)
    summary = _summary(result)
    write_stamp(stage.out, name=stage.name, stage=stage.kind, config_hash=digest, inputs=inputs, seconds=seconds,
                summary=summary, config=config)
    return {"seconds": seconds, **summary}


def _line(values: dict) -> str:
    shown = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items() if k != "seconds"]
    return ", ".join(shown[:6])


def run(config: RunConfig) -> dict:
    """Plan the recipe, print the plan, then (unless --dry-run) run the stages that need it."""
    from curate.device import apply_threads

    apply_threads(config)  # a stage with its own threads sets them again when it starts
    recipe = load_recipe(config.recipe)
    steps = plan(recipe, config.overwrite)
    print(f"recipe {recipe.path} -> {recipe.out}: {sum(s.run for s in steps)} of {len(steps)} stages to run",
          flush=True)
    for step in steps:
        print(f"  {'run ' if step.run else 'skip'}  {step.stage.name:<18} {step.reason}", flush=True)
    report = next((s.stage.out for s in reversed(steps) if s.stage.kind == "report"), None)
    outcome = {"plan": [{"name": s.stage.name, "run": s.run, "reason": s.reason} for s in steps],
               "report": str(report) if report else None, "ran": []}
    if config.dry_run:
        return outcome
    outputs = {s.name: s.out for s in recipe.stages}
    todo = [s for s in steps if s.run]
    for i, step in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {step.stage.name} ...", flush=True)
        result = _run_stage(step.stage, outputs, config.overwrite, config.progress)
        print(f"[{i}/{len(todo)}] {step.stage.name} done in {result['seconds']} s -> {step.stage.out}"
              + (f" ({_line(result)})" if _line(result) else ""), flush=True)
        outcome["ran"].append(step.stage.name)
    return outcome
