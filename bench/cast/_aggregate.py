"""The fair bench's results from every finished arm: rows, paired tests against random skip and against full
tuning of the same seed (does skipping keep the refusals and lower the NLL cost?), the claim per rho.

Built from the stored arms (bench/results/cast/store/arms), not from one run's arm list, so sessions that each
finish part of the arms add up; a test pairs only the (seed, draw) runs that exist and states how many it used.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.cast._compare import claim, paired_tests
from bench.cast._summary import ORDER

__all__ = ["row_order", "aggregate", "finished_results"]

SKIPPING = ("cast", "random", "low-conflict")


def row_order(row: dict) -> tuple:
    """Arms in the table's order, then rho, seed and random draw."""
    return ORDER.index(row["arm"]), row["rho"], row["seed"] or 0, row["draw"] or 0


def _by_seed(records: list[dict], name: str, rho: float) -> dict[int, dict]:
    return {r["row"]["seed"]: r["outcome"] for r in records
            if r["row"]["arm"] == name and r["row"]["rho"] == rho}  # LoRA's rho is the budget it copies


def aggregate(records: list[dict], base_row: dict, rhos: list[float], seed: int) -> dict:
    """{rows, paired_tests, claim} over `records` ({row, outcome} of each finished arm); claims at `rhos` and at
    every rho a skipping arm was run with. `seed` seeds the bootstraps."""
    records = sorted(records, key=lambda r: row_order(r["row"]))
    rows = [r["row"] for r in records]
    rhos = sorted({*rhos, *(r["rho"] for r in rows if r["arm"] in SKIPPING)})
    tests, vs_full = {}, {}
    full = {(s, 0): outcome for s, outcome in _by_seed(records, "full", 0.0).items()}
    for rho in rhos:
        random = {(r["row"]["seed"], r["row"]["draw"]): r["outcome"] for r in records
                  if r["row"]["arm"] == "random" and r["row"]["rho"] == rho}
        for name in ("cast", "low-conflict", "lora"):
            own = _by_seed(records, name, rho)
            test = paired_tests(own, random, seed=seed) if own and random else None
            if test is not None:
                tests[f"{name}-rho{rho:g}"] = test
            test = paired_tests(own, full, seed=seed, reference="full") if own and full else None
            if test is not None:
                vs_full[f"{name}-rho{rho:g}"] = test | {"reference": "full attention tuning of the same seed"}
    return {"rows": rows, "paired_tests": tests, "paired_vs_full": vs_full,
            "claim": [claim(rows, base_row, tests, rho) for rho in rhos]}


def finished_results(folder: Path, payload: dict, rhos: list[float], seed: int) -> dict:
    """`aggregate` over the arms of `folder` (the store, or --work without one); {} before the base model is
    evaluated. The cost check and map stability come from `folder` when this run's `payload` lacks them (a
    session that stops early still writes the whole results file)."""
    from bench.cast._store import stored_arms

    base, records = stored_arms(folder / "arms")
    if base is None:
        return {}
    out = aggregate(records, base["row"], rhos, seed)
    for key, name in (("cost", "cost.json"), ("map_stability", "stability.json")):
        if key not in payload and (folder / name).exists():
            out[key] = json.loads((folder / name).read_text())
    return out
