"""Evaluation: chat formatting, batched generation, refusal judge, safety/utility metrics, reports.

Heavy modules load on first use of their names, so `import curate.evaluation` stays cheap.
"""

from __future__ import annotations

from curate.lazy import lazy_exports

__all__ = [
    "format_prompt", "tokenize_pairs", "ensure_chat_template",
    "generate", "response_nll",
    "RefusalJudge", "JudgeResult", "default_judge",
    "Controller", "load_controller",
    "EvalConfig", "run",
]

lazy_exports(__name__, {
    "curate.lm.chat": ["format_prompt", "tokenize_pairs", "ensure_chat_template"],
    "curate.lm.generation": ["generate"],
    "curate.lm.likelihood": ["response_nll"],
    "curate.evaluation.judge": ["RefusalJudge", "JudgeResult"],
    "curate.evaluation.judge_train": ["default_judge"],
    "curate.evaluation.controls": ["Controller", "load_controller"],
    "curate.evaluation.config": ["EvalConfig"],
    "curate.evaluation.run": ["run"],
})
