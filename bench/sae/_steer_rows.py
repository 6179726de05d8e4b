"""Pure parts of the SAE steering selection: rows from `curate eval` summaries in the units of DACO's steering rows,
the validation choice by DACO's rule (bench.daco._steer_score.select), paired tests on held-out prompts."""

from __future__ import annotations

import math

from bench.daco._steer_score import Limits, select
from curate.errors import InputError

__all__ = ["figures", "choose", "violations", "mcnemar"]


def _degenerate(summary: dict) -> dict:
    """Degenerate share per set, and pooled over both sets with its Wilson interval (DACO's row counts one flag
    per answer of either set)."""
    from curate.evaluation.stats import rate

    out, degenerate, answers = {}, 0, 0
    for kind in ("harmful", "benign"):
        part = summary.get(kind, {})
        entry = part.get("rates", {}).get("degenerate")
        share = float(entry["rate"]) if entry else math.nan
        out[f"degenerate_{kind}"] = share
        n = int((entry or {}).get("n") or part.get("n") or 0)
        if n and not math.isnan(share):
            degenerate, answers = degenerate + round(share * n), answers + n
    pooled = rate(degenerate, answers)
    return {**out, "degenerate": pooled["rate"], "degenerate_ci": [pooled["low"], pooled["high"]]}


def figures(summary: dict, plain: dict | None = None) -> dict:
    """The row of one `curate eval` summary, in DACO's units: {dsr, dsr_ci, or, or_ci, degenerate and degenerate_ci
    (pooled over the harmful and benign answers), degenerate_harmful, degenerate_benign, nll, nll_ci, nll_delta, n,
    n_benign, n_nll}; nll_delta = 100 (mean NLL / plain's - 1), the relative change in % (None without `plain`)."""
    harmful, benign, nll = summary.get("harmful", {}), summary.get("benign", {}), summary.get("nll", {})
    out = {"dsr": harmful.get("rate"), "dsr_ci": [harmful.get("low"), harmful.get("high")],
           "or": benign.get("rate"), "or_ci": [benign.get("low"), benign.get("high")], **_degenerate(summary),
           "nll": nll.get("mean"), "nll_ci": [nll.get("low"), nll.get("high")],
           "n": harmful.get("n"), "n_benign": benign.get("n"), "n_nll": nll.get("n")}
    base = (plain or {}).get("nll", {}).get("mean")
    out["nll_delta"] = 100 * (out["nll"] / base - 1) if base and out["nll"] is not None else None
    return out


def violations(row: dict, plain: dict, limits: Limits) -> list[str]:
    """Which of the limits `row` breaks, each checked by DACO's select with the other two lifted."""
    lifted = {"over_refusal_points": math.inf, "degenerate": math.inf, "nll_pct": math.inf}
    checks = {"over-refusal": "over_refusal_points", "degenerate": "degenerate", "nll": "nll_pct"}
    return [name for name, field in checks.items()
            if select([row], plain, Limits(**{**lifted, field: getattr(limits, field)}))[1] != "within limits"]


def _measured(name: str, row: dict) -> dict:
    if row["dsr"] is None or row["or"] is None or row["nll_delta"] is None:
        raise InputError(f"validation run {name!r}: its summary lacks the harmful, benign or NLL figures the choice "
                         "needs; evaluate it with harmful, over-refusal and benign NLL inputs (--validation)")
    return row


def choose(plain: dict, candidates: dict[str, dict], limits: Limits | None = None) -> tuple[str, bool, dict]:
    """(chosen name, whether it met the limits, {name: row + violations}) from validation summaries.

    The choice is DACO's (bench.daco._steer_score.select), in its units: the highest DSR among settings within
    `limits` (ties: lower over-refusal, then lower NLL, then the earlier candidate; list them from the mildest
    setting up); when none is within limits, the setting closest to them (ties: higher DSR), reported as not
    feasible. `limits` defaults to DACO's Limits().
    """
    limits = Limits() if limits is None else limits
    base = _measured("plain", figures(plain, plain))
    rows = {name: _measured(name, figures(summary, plain)) for name, summary in candidates.items()}
    if not rows:
        raise InputError("choose: no candidate settings to choose from; give at least one (eta, gamma) variant")
    row, status = select(list(rows.values()), base, limits)
    chosen = next(name for name, candidate in rows.items() if candidate is row)
    table = {name: {**candidate, "violations": violations(candidate, base, limits)} for name, candidate in rows.items()}
    return chosen, status == "within limits", table


def mcnemar(before: list[bool], after: list[bool]) -> dict:
    """Exact McNemar test on paired flags (same prompts): gained = after and not before, lost = the reverse."""
    from curate.evaluation.stats import mcnemar as paired_test

    if len(before) != len(after):
        raise ValueError(f"paired flags of different lengths: {len(before)} and {len(after)}")
    test = paired_test(before, after)
    return {"gained": test["b01"], "lost": test["b10"], "n": len(before), "p_value": test["p_value"],
            "test": f"McNemar ({test['method']})"}
