"""What every judge candidate offers: fit on labelled answers, predict verdicts, and a JSON-able state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from curate.errors import InputError
from curate.evaluation.verdicts import VERDICTS, JudgeResult, check_verdicts

__all__ = ["Judge", "check_pairs"]


def check_pairs(prompts: Sequence[str], responses: Sequence[str], verdicts: Sequence[str] | None = None,
                source: str = "labels") -> tuple[list[str], list[str], np.ndarray | None]:
    """Prompts and responses as lists of str (None -> ""), verdicts checked; lengths must agree."""
    if len(prompts) != len(responses) or (verdicts is not None and len(verdicts) != len(prompts)):
        lengths = f"{len(prompts)} prompts, {len(responses)} responses" + (
            f", {len(verdicts)} verdicts" if verdicts is not None else "")
        raise InputError(f"{source}: {lengths}; give one prompt, response (and verdict) per row")
    checked = check_verdicts(verdicts, source) if verdicts is not None else None
    return [p or "" for p in prompts], [r or "" for r in responses], checked


class Judge:
    """A judge: `fit(prompts, responses, verdicts)`, `predict(prompts, responses) -> JudgeResult`.

    `to_dict()` returns the JSON-able parameters and `tensors()` any arrays too large for JSON (saved beside it
    as safetensors); `from_dict(parameters, tensors)` rebuilds the same judge. `cost` orders candidates whose
    accuracies tie (cheaper first): 0 rules, 1 embedding + linear, 2 fine-tuned encoder, 3 chat LM.
    """

    kind: ClassVar[str] = ""
    cost: ClassVar[int] = 0

    def fit(self, prompts: Sequence[str], responses: Sequence[str], verdicts: Sequence[str]) -> Judge:
        raise NotImplementedError

    def predict(self, prompts: Sequence[str], responses: Sequence[str]) -> JudgeResult:
        """Verdicts and [n, 3] scores; an empty or whitespace-only answer is always degenerate (scores 0, 0, 1)."""
        prompts, responses, _ = check_pairs(prompts, responses, source="judge input")
        if not prompts:
            return JudgeResult.from_scores(np.zeros((0, len(VERDICTS))))
        scores = np.array(self._predict(prompts, responses).scores, dtype=np.float64)
        empty = np.array([not r.strip() for r in responses], dtype=bool)
        scores[empty] = np.eye(len(VERDICTS))[VERDICTS.index("degenerate")]
        return JudgeResult.from_scores(scores)

    def _predict(self, prompts: list[str], responses: list[str]) -> JudgeResult:
        """What each candidate implements: verdicts for a non-empty batch of cleaned (str) pairs."""
        raise NotImplementedError

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> JudgeResult:
        """The same as `predict` (the name `curate eval` and older callers use)."""
        return self.predict(prompts, responses)

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def tensors(self) -> dict[str, Any]:
        """{name: torch.Tensor} saved as safetensors beside the JSON; most judges have none."""
        return {}

    @classmethod
    def from_dict(cls, parameters: dict[str, Any], tensors: dict[str, Any] | None = None) -> Judge:
        raise NotImplementedError
