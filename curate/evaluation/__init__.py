"""Evaluation: chat formatting, batched generation, refusal judge, safety/utility metrics, reports.

Heavy modules load on first use of their names, so `import curate.evaluation` stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = [
    "format_prompt", "tokenize_pairs", "ensure_chat_template",
    "generate", "response_nll",
    "RefusalJudge", "JudgeResult", "default_judge",
    "Controller", "load_controller",
    "EvalConfig", "run",
]

_HOME = {
    "format_prompt": "curate.lm.chat", "tokenize_pairs": "curate.lm.chat", "ensure_chat_template": "curate.lm.chat",
    "generate": "curate.lm.generation", "response_nll": "curate.lm.likelihood",
    "RefusalJudge": "judge", "JudgeResult": "judge", "default_judge": "judge_train",
    "Controller": "controls", "load_controller": "controls",
    "EvalConfig": "config", "run": "run",
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'curate.evaluation' has no attribute '{name}'")
    home = _HOME[name] if _HOME[name].startswith("curate.") else f"curate.evaluation.{_HOME[name]}"
    return getattr(importlib.import_module(home), name)
