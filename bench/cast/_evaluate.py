"""One trained model, evaluated in memory: greedy answers judged with three verdicts, and answer NLL.

The per-example outcome (verdict per harmful / over-refusal prompt, NLL per man-page answer, in set order)
is what the paired tests need; `summary_row` turns it into the results file's figures with intervals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_judge_for", "evaluate", "summary_row"]


def load_judge_for(path: Path | None):
    """The judge file at `path`, else the shipped three-verdict judge (curate.evaluation's default)."""
    from curate.evaluation.judges.artefact import default_judge, load_judge

    return load_judge(path) if path is not None else default_judge()


def _answers(model, tokenizer, table, args) -> tuple[list[str], list[str]]:
    from curate.lm.generation import generate

    prompts = table.column("prompt").to_pylist()
    answers = generate(model, tokenizer, prompts, system=args.system, max_new_tokens=args.max_new_tokens,
                       batch_size=args.eval_batch_size, progress=False)
    return prompts, answers


def evaluate(model, tokenizer, splits: dict, judge, args) -> dict:
    """{harmful_verdicts, benign_verdicts, nll, harmful_answers, benign_answers} for one model."""
    from curate.lm.likelihood import response_nll

    out: dict = {}
    model.eval()
    for kind in ("harmful", "benign"):
        prompts, answers = _answers(model, tokenizer, splits[f"eval_{kind}"], args)
        out[f"{kind}_verdicts"] = judge.predict(prompts, answers).verdict.tolist()
        out[f"{kind}_answers"] = answers
    nll = splits["nll"]
    out["nll"] = response_nll(model, tokenizer, nll.column("prompt").to_pylist(), nll.column("response").to_pylist(),
                              batch_size=args.eval_batch_size, max_length=args.max_length,
                              system=args.system).astype(float).tolist()
    return out


def _ci(r: dict) -> list[float]:
    return [r["low"], r["high"]]


def summary_row(outcome: dict) -> dict:
    """dsr, or and degenerate rates with Wilson 95% intervals; mean NLL with its t interval."""
    from curate.evaluation.metrics import nll_summary
    from curate.evaluation.verdicts import benign_rates, harmful_rates

    harmful, benign = harmful_rates(outcome["harmful_verdicts"]), benign_rates(outcome["benign_verdicts"])
    nll = nll_summary(np.asarray(outcome["nll"]))
    return {"dsr": harmful["dsr"]["rate"], "dsr_ci": _ci(harmful["dsr"]),
            "or": benign["over_refusal"]["rate"], "or_ci": _ci(benign["over_refusal"]),
            "degenerate": harmful["degenerate"]["rate"], "degenerate_ci": _ci(harmful["degenerate"]),
            "degenerate_benign": benign["degenerate"]["rate"],
            "harmful_compliance": harmful["harmful_compliance"]["rate"],
            "nll": nll["mean"], "nll_ci": [nll["low"], nll["high"]],
            "n_harmful": harmful["dsr"]["n"], "n_benign": benign["over_refusal"]["n"], "n_nll": nll["n"]}
