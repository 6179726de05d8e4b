"""`curate judge`: judge every (prompt, response) row of a file and write the rows with verdicts and scores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.config import StageConfig, save_config
from curate.errors import ConfigError, InputError
from curate.evaluation.verdicts import VERDICTS, verdict_counts

__all__ = ["JudgeConfig", "run", "OUTPUT_COLUMNS"]

OUTPUT_COLUMNS = ("verdict", *(f"score_{v}" for v in VERDICTS))
"""Columns `curate judge` adds to the input rows."""


@dataclass(frozen=True)
class JudgeConfig(StageConfig):
    unused_fields = ("device", "seed")

    input: str
    """Rows with a prompt and a response: JSONL, Parquet, CSV, a save_to_disk folder, a glob or registry:NAME."""
    out: Path
    """Output Parquet: the input rows plus verdict, score_refusal, score_compliance, score_degenerate."""
    prompt_field: str = "prompt"
    """Column with the request."""
    response_field: str = "response"
    """Column with the answer to judge (empty or null answers are degenerate)."""
    judge: Path | None = None
    """A judge file (JSON written by bench.eval.judge_choice) instead of the shipped default."""

    field_help = {"overwrite": "Replace an existing --out file."}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prompt_field == self.response_field:
            raise ConfigError(f"--prompt-field and --response-field are both '{self.prompt_field}'; "
                              "name the request column and the answer column")
        if Path(self.out).suffix != ".parquet":
            raise ConfigError(f"--out {self.out}: give a .parquet file name")


def _read(config: JudgeConfig):
    from curate.io import require_columns
    from embed import open_input

    table = open_input(config.input)
    if table.num_rows == 0:
        raise InputError(f"input '{config.input}' has no rows; give a file of (prompt, response) rows")
    require_columns(table, {config.prompt_field: "--prompt-field", config.response_field: "--response-field"},
                    config.input)
    clash = [c for c in OUTPUT_COLUMNS if c in table.column_names]
    if clash:
        raise InputError(f"input '{config.input}' already has column{'s' if len(clash) > 1 else ''} "
                         f"{', '.join(clash)}; rename {'them' if len(clash) > 1 else 'it'} (e.g. verdict -> label) "
                         "so the judge's columns do not hide yours")
    responses = table.column(config.response_field).to_pylist()
    if all(r is None for r in responses):
        raise InputError(f"input '{config.input}': every value of --response-field '{config.response_field}' is "
                         "null; point --response-field at the column holding the answers")
    return table, [str(p) if p is not None else "" for p in table.column(config.prompt_field).to_pylist()], \
        [str(r) if r is not None else "" for r in responses]


def run(config: JudgeConfig) -> dict:
    """Judge the rows of `config.input`; writes `config.out` and, beside it, OUT.json (config, judge, counts)."""
    import pyarrow as pa

    from curate.device import apply_threads
    from curate.evaluation.judges.artefact import default_judge, load_judge
    from curate.io import check_output, write_parquet

    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise ConfigError(f"--out {out}: already exists; pass --overwrite or choose another file")
    check_output(out, "file", inputs=(config.input,))
    table, prompts, responses = _read(config)
    apply_threads(config)
    judge = load_judge(config.judge) if config.judge else default_judge()
    result = judge.predict(prompts, responses)
    table = table.append_column("verdict", pa.array(result.verdict.tolist(), pa.string()))
    for j, verdict in enumerate(VERDICTS):
        table = table.append_column(f"score_{verdict}", pa.array(np.asarray(result.scores[:, j], dtype=np.float32)))
    write_parquet(table, out)
    summary = {"rows": table.num_rows, "counts": verdict_counts(result.verdict),
               "judge": judge_description(judge, config.judge)}
    save_config(config, out.with_suffix(".json"), summary=summary)
    return summary


def judge_description(judge, path: Path | None) -> dict:
    """{kind, file, trained_on} of a loaded judge, for summaries."""
    from curate.evaluation.judges.artefact import DEFAULT_JUDGE

    return {"kind": judge.kind, "file": str(path or DEFAULT_JUDGE), "trained_on": getattr(judge, "trained_on", {})}
