"""One fine-tuned model judged in memory: greedy answers to the held-out prompts, three verdicts, answer NLL.

The outcome keeps one entry per prompt / answer in set order, with the ids, so the paired tests (bench.sot.
_e2e_compare) can line two arms up; `outcome_rates` turns it into the figures with Wilson / t intervals.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SETS", "NLL_SETS", "evaluate", "outcome_rates"]

SETS = ("harmful", "benign")
"""Prompt sets that are answered and judged: held-out harmful prompts, over-refusal prompts."""
NLL_SETS = ("nll_task", "nll_general")
"""Answer sets scored by mean token NLL: held-out answers of the task, benign-qa reference answers."""


def evaluate(model, tokenizer, data, judge, settings: dict, limit: int | None = None,
             timings: dict | None = None) -> dict:
    """{set: {ids, verdicts, answers}} for SETS (the answers kept for re-judging and labelling) and {set: {ids, nll}}
    for NLL_SETS; `limit` keeps the first rows of each set and `timings` receives the seconds of generation +
    judging and of NLL scoring (the plan's timing)."""
    from bench.common import timed
    from curate.lm.generation import generate
    from curate.lm.likelihood import response_nll

    model.eval()
    out: dict = {}
    timings = {} if timings is None else timings
    batch, system = settings["eval_batch_size"], settings["system"]
    with timed(timings, "generate"):
        for name in SETS:
            table = getattr(data, f"eval_{name}")
            table = table.slice(0, limit) if limit else table
            prompts = table.column("prompt").to_pylist()
            answers = generate(model, tokenizer, prompts, system=system, max_new_tokens=settings["max_new_tokens"],
                               batch_size=batch, progress=True)
            out[name] = {"ids": table.column("id").to_pylist(),
                         "verdicts": judge.predict(prompts, answers).verdict.tolist(), "answers": list(answers)}
    with timed(timings, "nll"):
        for name in NLL_SETS:
            table = getattr(data, name)
            table = table.slice(0, limit) if limit else table
            nll = response_nll(model, tokenizer, table.column("prompt").to_pylist(),
                               table.column("response").to_pylist(), batch_size=batch,
                               max_length=settings["max_length"], system=system)
            out[name] = {"ids": table.column("id").to_pylist(), "nll": np.asarray(nll, dtype=float).tolist()}
    return out


def _interval(r: dict) -> dict:
    return {"rate": r["rate"], "low": r["low"], "high": r["high"], "k": r["k"], "n": r["n"]}


def outcome_rates(outcome: dict) -> dict:
    """Harmful compliance, DSR, degenerate, over-refusal (Wilson 95%) and each NLL set's mean (t 95%)."""
    from curate.evaluation.metrics import nll_summary
    from curate.evaluation.verdicts import benign_rates, harmful_rates

    harmful, benign = harmful_rates(outcome["harmful"]["verdicts"]), benign_rates(outcome["benign"]["verdicts"])
    out = {"harmful_compliance": _interval(harmful["harmful_compliance"]), "dsr": _interval(harmful["dsr"]),
           "degenerate_harmful": _interval(harmful["degenerate"]),
           "over_refusal": _interval(benign["over_refusal"]), "degenerate_benign": _interval(benign["degenerate"])}
    for name in NLL_SETS:
        s = nll_summary(np.asarray(outcome[name]["nll"]))
        out[name] = {"mean": s["mean"], "low": s["low"], "high": s["high"], "n": s["n"]}
    return out
