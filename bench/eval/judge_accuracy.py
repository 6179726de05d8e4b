"""Cross-validated accuracy/F1 of the refusal judge on the human labels (registry:refusals).

    .venv/bin/python bench/judge_accuracy.py [--folds 5 --repeats 5 --seed 0]

Prints rules-only, classifier-only and combined (the shipped judge) figures; every example is scored by a
judge trained without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser()
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
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
