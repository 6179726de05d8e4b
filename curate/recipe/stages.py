"""The stages a recipe can name: each one's config class, runner and output, as import strings (nothing loads
until a recipe uses the stage, so `curate run --help` stays fast)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

__all__ = ["StageSpec", "STAGES", "stage_spec", "load"]


@dataclass(frozen=True)
class StageSpec:
    config: str
    """"module:Class" of the stage's config: the recipe's keys are its fields, as the command's options are."""
    runner: str
    """"module:function" that runs the stage: run(config)."""
    default_out: str = "{name}"
    """Output path when the recipe gives none, inside the recipe's out folder ({name} is the stage's name)."""
    writes_result: bool = False
    """The command prints its result instead of writing a file (steer): the recipe writes it to `out` as JSON."""
    names: dict[str, str] = field(default_factory=dict)
    """Option spellings that differ from the field name (train mosaic's --lambda)."""


STAGES: dict[str, StageSpec] = {
    "embed": StageSpec("embed.config:EmbedConfig", "embed.run:run"),
    "sot-weight": StageSpec("transport.config:SOTConfig", "transport.pipeline:run", "{name}.parquet"),
    "export": StageSpec("transport.export:ExportConfig", "transport.export:export", "{name}.jsonl"),
    "build-dictionary": StageSpec("concepts.config:BuildConfig", "concepts.build:run"),
    "steer": StageSpec("curate.commands.steer:SteerConfig", "curate.commands.steer:run", "{name}.json",
                       writes_result=True),
    "diagnose-heads": StageSpec("train.cast.diagnose:DiagnoseConfig", "train.cast.diagnose:run"),
    "train-sft": StageSpec("train.sft.config:SFTConfig", "train.sft.run:run"),
    "train-mosaic": StageSpec("train.mosaic.run:MosaicConfig", "train.mosaic.run:run", names={"lambda": "kl_weight"}),
    "train-cast": StageSpec("train.cast.run:CastConfig", "train.cast.run:run"),
    "train-sae": StageSpec("train.sae.run:SAEConfig", "train.sae.run:run"),
    "eval": StageSpec("curate.evaluation.config:EvalConfig", "curate.evaluation.run:run"),
    "judge": StageSpec("curate.evaluation.judges.apply:JudgeConfig", "curate.evaluation.judges.apply:run",
                       "{name}.parquet"),
    "report": StageSpec("curate.report.config:ReportConfig", "curate.report.build:run", "report.html"),
}
"""Stage name (the command, `train X` written train-X) -> its spec."""


def stage_spec(kind: str) -> StageSpec | None:
    """The spec of a stage name as a recipe may write it: `train sft`, `train-sft` and `train_sft` are one stage."""
    return STAGES.get("-".join(str(kind).replace("_", " ").split()))


def load(target: str):
    """The object a "module:attribute" string names."""
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)
