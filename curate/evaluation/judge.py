"""The judge of every safety rate: three verdicts (refusal, compliance, degenerate) per answer.

`default_judge()` (also `RefusalJudge.default()`) loads the shipped artefact, curate/evaluation/data/judge-v2.json,
chosen among the candidates of `curate.evaluation.judges` by held-out accuracy on labelled answers
(`python -m bench.eval.judge_choice`, which also rebuilds it; nothing trains on first use). `load_judge(path)`
reads any saved judge; `save_judge` writes one. Verdict definitions: docs/labelling.md.
"""

from __future__ import annotations

from curate.evaluation.judges.artefact import DEFAULT_JUDGE, default_judge, load_judge, save_judge
from curate.evaluation.judges.features import encode_texts
from curate.evaluation.judges.legacy import RefusalJudge, judge_features
from curate.evaluation.verdicts import VERDICTS, JudgeResult

__all__ = ["VERDICTS", "JudgeResult", "DEFAULT_JUDGE", "default_judge", "load_judge", "save_judge", "RefusalJudge",
           "judge_features", "encode_texts"]
