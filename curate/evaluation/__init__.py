"""Evaluation: chat formatting, batched generation, refusal judge, safety/utility metrics, reports.

Heavy modules load on first use of their names, so `import curate.evaluation` stays cheap.
"""

from __future__ import annotations

import importlib

__all__ = [
    "format_prompt", "tokenize_pairs", "ensure_chat_template",
    "generate", "response_nll",
    "RefusalJudge", "JudgeResult",
    "Controller", "load_controller",
    "EvalConfig", "run",
]

_HOME = {
    "format_prompt": "chat", "tokenize_pairs": "chat", "ensure_chat_template": "chat",
    "generate": "generation", "response_nll": "likelihood",
    "RefusalJudge": "judge", "JudgeResult": "judge",
    "Controller": "controls", "load_controller": "controls",
    "EvalConfig": "config", "run": "run",
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'curate.evaluation' has no attribute '{name}'")
    return getattr(importlib.import_module(f"curate.evaluation.{_HOME[name]}"), name)
