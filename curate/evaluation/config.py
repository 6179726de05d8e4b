"""`EvalConfig`: what to evaluate, on which prompts, with which controller and judge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.config import StageConfig
from curate.errors import ConfigError

__all__ = ["EvalConfig"]


@dataclass(frozen=True)
class EvalConfig(StageConfig):
    out: Path
    """Output folder: results.parquet, nll.parquet, summary.json, report.md, chart.png, eval_config.json."""
    model: str = "smollm2-135m"
    """Registry name or model folder (e.g. the --out of `curate train sft`)."""
    prompts: str | None = None
    """Harmful prompts (any input spec, e.g. registry:harmful-prompts:heldout); refusal = defence success."""
    benign_prompts: str | None = None
    """Benign prompts (e.g. registry:benign-qa:heldout); a refusal here counts as over-refusal."""
    nll_data: str | None = None
    """Benign prompt/response pairs whose reference answers are scored by mean token NLL (utility)."""
    prompt_field: str = "prompt"
    """Column with the prompt text."""
    response_field: str = "response"
    """Column with the reference answer (for --nll-data)."""
    category_field: str = "category"
    """Column used for per-category rates (optional in the data)."""
    limit: int | None = None
    """Use at most this many rows per input (a seeded random subset)."""
    controls: Path | None = None
    """MOSAIC control-token folder (train mosaic --out)."""
    active: str | None = None
    """Comma-separated MOSAIC categories to activate, e.g. a,b (needs --controls)."""
    steer: Path | None = None
    """DACO dictionary or SAE folder for steering during generation."""
    system: str | None = None
    """System message for every prompt (default: the template's own)."""
    template: str | None = None
    """Chat template for models without one: 'chatml', a .jinja file, or a Jinja string."""
    max_new_tokens: int = 64
    """Greedy generation length."""
    batch_size: int = 16
    """Prompts per generation / scoring batch."""
    max_length: int = 256
    """Token budget per prompt+reference pair for the NLL."""
    judge_model: str | None = None
    """Judge with this chat LM, zero-shot, instead of the shipped judge (it scores the three verdict words)."""
    judge_path: Path | None = None
    """A judge file (JSON from `python -m bench.eval.judge_choice --save`) instead of the shipped one."""

    field_help = {"seed": "Seed for --limit subsets.", "overwrite": "Replace existing results in --out."}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.prompts or self.benign_prompts or self.nll_data):
            raise ConfigError("nothing to evaluate: pass --prompts, --benign-prompts and/or --nll-data")
        if self.active and self.controls is None:
            raise ConfigError(f"--active {self.active}: needs --controls DIR (a MOSAIC control-token folder)")
        if self.controls is not None and self.steer is not None:
            raise ConfigError("--controls and --steer: use one controller at a time")
        if self.judge_model and self.judge_path:
            raise ConfigError("--judge-model and --judge: choose one judge")
        for name in ("max_new_tokens", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit {self.limit}: must be >= 1 (or omit it to use every row)")

    @property
    def active_list(self) -> list[str]:
        return [a.strip() for a in (self.active or "").split(",") if a.strip()]
