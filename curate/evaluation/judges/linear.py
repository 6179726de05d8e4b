"""Candidate b: MiniLM features + a multinomial logistic regression (coefficients stored as JSON numbers).

Features per pair (`pair_features`): the answer's 384-d MiniLM embedding (what the answer says), cosine(prompt,
answer) (whether it stays on the prompt's subject: off-topic answers are degenerate, deflections are not), text
statistics (length, letters, repetition, echo) and the rule flags. sklearn fits; prediction is numpy only.
"""

from __future__ import annotations

from typing import Any

from curate.evaluation.judges.base import Judge, check_pairs
from curate.evaluation.judges.features import pair_features
from curate.evaluation.judges.softmax import SoftmaxModel
from curate.evaluation.rules import garak_phrases
from curate.evaluation.verdicts import JudgeResult

__all__ = ["LinearJudge"]


class LinearJudge(Judge):
    kind = "linear"
    cost = 1

    def __init__(self, encoder: str = "minilm", c: float = 0.5, embedding: bool = True,
                 model: SoftmaxModel | None = None, phrases: dict[str, Any] | None = None):
        self.encoder, self.c, self.embedding, self.model = encoder, float(c), bool(embedding), model
        self.phrases = phrases if phrases is not None else garak_phrases()

    def features(self, prompts, responses):
        prompts, responses, _ = check_pairs(prompts, responses, source="judge input")
        return pair_features(prompts, responses, self.encoder, self.embedding, self.phrases)

    def fit(self, prompts, responses, verdicts) -> LinearJudge:
        prompts, responses, verdicts = check_pairs(prompts, responses, verdicts)
        self.model = SoftmaxModel.fit(self.features(prompts, responses), verdicts, c=self.c)
        return self

    def _predict(self, prompts, responses) -> JudgeResult:
        if self.model is None:
            raise RuntimeError("LinearJudge.predict before fit: fit it on labels or load a saved judge")
        return JudgeResult.from_scores(self.model.probabilities(self.features(prompts, responses)))

    def to_dict(self) -> dict[str, Any]:
        return {"encoder": self.encoder, "c": self.c, "embedding": self.embedding, "model": self.model.to_dict(),
                "phrases": {k: list(v) if isinstance(v, tuple) else v for k, v in self.phrases.items()}}

    @classmethod
    def from_dict(cls, parameters: dict[str, Any], tensors: dict[str, Any] | None = None) -> LinearJudge:
        phrases = {k: tuple(v) if isinstance(v, list) else v for k, v in parameters["phrases"].items()}
        return cls(parameters["encoder"], parameters["c"], parameters["embedding"],
                   SoftmaxModel.from_dict(parameters["model"]), phrases)
