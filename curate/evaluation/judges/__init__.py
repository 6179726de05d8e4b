"""Judge candidates behind one interface, their scoring against labels, and the versioned artefact.

Kinds (one module each): rules (`RulesJudge`), linear (`LinearJudge`), cross-encoder (`CrossEncoderJudge`),
lm (`curate.evaluation.judge_lm.LMJudge`), lm-prefix (`PrefixLMJudge`: the lm prompt with its shared prefix
encoded once, and a head chosen by cross-validation); each has `fit(prompts, responses, verdicts)`,
`predict(prompts, responses) -> JudgeResult`, `to_dict()` / `from_dict()`. The candidate classes import only
when their kind is used (`judge_class`).
"""

from curate.evaluation.judges.artefact import (
                                               ARTEFACT_VERSION,
                                               DEFAULT_JUDGE,
                                               KINDS,
                                               default_judge,
                                               judge_class,
                                               load_judge,
                                               read_artefact,
                                               save_judge,
)
from curate.evaluation.judges.base import Judge
from curate.evaluation.judges.scoring import balanced_accuracy, collapse_refusal, score_verdicts

__all__ = ["ARTEFACT_VERSION", "DEFAULT_JUDGE", "KINDS", "Judge", "default_judge", "judge_class", "load_judge",
           "read_artefact", "save_judge", "score_verdicts", "balanced_accuracy", "collapse_refusal"]
