"""Cross-validated accuracy/F1 of the earlier binary refusal judge on the human labels (registry:refusals).

    .venv/bin/python -m bench.eval.judge_accuracy [--folds 5 --repeats 5 --seed 0]

Prints rules-only, classifier-only and combined figures of the binary judge (`refusal-judge/v1`, kept for
comparison); every example is scored by a judge trained without it. Its features were chosen on these same 169
labels, so the figures flatter it. The shipped three-verdict judge is chosen by `python -m bench.eval.judge_choice`.
"""

from __future__ import annotations

import json
import time

from bench.common import machine_info, make_parser


def main() -> None:
    p = make_parser(__doc__)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from curate.evaluation.judge import judge_features
    from curate.evaluation.judge_train import cross_validate, refusal_labels

    started = time.perf_counter()
    prompts, responses, labels = refusal_labels()
    features = judge_features(prompts, responses)
    result = cross_validate(features, labels, folds=args.folds, repeats=args.repeats, seed=args.seed)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["machine"] = machine_info()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
