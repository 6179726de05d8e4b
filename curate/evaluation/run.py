"""`curate eval`: generate, judge, score reference NLL, and write the per-example table and summary."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa

from curate.config import save_config
from curate.device import apply_threads, resolve_device
from curate.errors import ConfigError
from curate.evaluation.config import EvalConfig
from curate.evaluation.metrics import nll_summary, set_summary
from curate.evaluation.report import write_report
from curate.evaluation.verdicts import VERDICTS
from curate.io import atomic_write_text, check_output, require_columns, write_parquet
from curate.lm.chat import ensure_chat_template
from embed import open_input

__all__ = ["run", "load_rows", "make_judge"]


def load_rows(spec: str, config: EvalConfig, needs_response: bool = False) -> dict[str, list]:
    """Columns id, prompt, category (and response) of one input, a seeded subset when --limit is set."""
    table = open_input(str(spec))
    needed = {config.prompt_field: "--prompt-field"}
    if needs_response:
        needed[config.response_field] = "--response-field"
    require_columns(table, needed, spec)
    n = table.num_rows
    keep = np.arange(n)
    if config.limit is not None and config.limit < n:
        keep = np.sort(np.random.default_rng(config.seed).choice(n, config.limit, replace=False))
    table = table.take(keep)
    cols = table.column_names
    rows = {
        "id": table.column("id").to_pylist() if "id" in cols else [f"{spec}#{i}" for i in keep],
        "prompt": table.column(config.prompt_field).to_pylist(),
        "category": (table.column(config.category_field).to_pylist() if config.category_field in cols
                     else [None] * len(keep)),
    }
    if needs_response:
        rows["response"] = table.column(config.response_field).to_pylist()
    return rows


def make_judge(config: EvalConfig):
    """The --judge-model chat LM (zero-shot), a saved judge (--judge), or the shipped default judge."""
    from curate.evaluation.judges.artefact import DEFAULT_JUDGE, default_judge, load_judge

    if config.judge_model:
        from curate.evaluation.judge_lm import JUDGE_PROMPT, LMJudge

        judge = LMJudge(config.judge_model, device=resolve_device(config.device), progress=config.progress)
        return judge, {"kind": "lm", "model": config.judge_model, "prompt": JUDGE_PROMPT, "shots": 0}
    judge = load_judge(config.judge_path) if config.judge_path else default_judge()
    return judge, {"kind": judge.kind, "file": str(config.judge_path or DEFAULT_JUDGE),
                   "trained_on": getattr(judge, "trained_on", {}), "metrics": judge.metrics}


def _controller(config: EvalConfig):
    from curate.evaluation.controls import load_controller

    if config.controls is not None:
        return load_controller("mosaic", config.controls, active=config.active_list)
    if config.steer is not None:
        return load_controller("steer", config.steer)
    return None


def _generate_and_judge(model, tokenizer, rows, config, controller, judge, kind: str) -> dict[str, list]:
    from curate.lm.generation import generate

    responses = generate(model, tokenizer, rows["prompt"], controller=controller, system=config.system,
                         max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                         progress=config.progress)
    result = judge.predict(rows["prompt"], responses)
    scores = {f"score_{v}": result.scores[:, j].astype(float).tolist() for j, v in enumerate(VERDICTS)}
    # refused / judge_score: the columns of the binary judge, kept for readers of older results
    return {**rows, "set": [kind] * len(responses), "response": responses, "verdict": result.verdict.tolist(),
            **scores, "refused": result.refused.tolist(), "judge_score": result.score.astype(float).tolist()}


def run(config: EvalConfig) -> dict:
    """Evaluate `config.model`; returns the summary dict also written to summary.json."""
    from curate.lm.likelihood import response_nll
    from curate.models import load_causal_lm

    if (config.out / "summary.json").exists() and not config.overwrite:
        raise ConfigError(f"--out {config.out}: already holds results; pass --overwrite or choose another folder")
    check_output(config.out, "folder", inputs=(config.prompts, config.benign_prompts, config.nll_data, config.controls,
                                                config.steer))
    started = time.perf_counter()
    sets = (("harmful", config.prompts), ("benign", config.benign_prompts))
    inputs = {kind: load_rows(spec, config) for kind, spec in sets if spec}
    nll_rows = load_rows(config.nll_data, config, needs_response=True) if config.nll_data else None
    apply_threads(config)
    device = resolve_device(config.device)
    # a judge file that does not load, or a bad --controls/--steer folder, fails before the model loads
    judge, judge_summary = make_judge(config) if inputs or config.judge_path else (None, None)
    controller = _controller(config)
    tokenizer, model = load_causal_lm(config.model, device=device, progress=config.progress)
    ensure_chat_template(tokenizer, config.template, config.model)
    config.out.mkdir(parents=True, exist_ok=True)
    save_config(config, config.out / "eval_config.json")
    summary: dict = {"model": config.model, "device": str(device)}
    if inputs:
        summary["judge"] = judge_summary
        results = [_generate_and_judge(model, tokenizer, rows, config, controller, judge, kind)
                   for kind, rows in inputs.items()]
        for kind, res in zip(inputs, results):
            summary[kind] = set_summary(res)
        columns = {k: sum((r[k] for r in results), []) for k in results[0]}
        write_parquet(pa.table(columns), config.out / "results.parquet")
    if nll_rows is not None:
        nll = response_nll(model, tokenizer, nll_rows["prompt"], nll_rows["response"], controller=controller,
                           batch_size=config.batch_size, max_length=config.max_length, system=config.system)
        summary["nll"] = nll_summary(nll)
        columns = {"id": nll_rows["id"], "category": nll_rows["category"], "nll": nll.tolist()}
        write_parquet(pa.table(columns), config.out / "nll.parquet")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_text(config.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_report(summary, config.out)
    return summary
