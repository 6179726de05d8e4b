"""MOSAIC figures across seeds: each trained budget's rates per seed with their spread, and the per-seed McNemar
tests combined into one stratified test.

- Rates: per (config, method, steps, order) and seed, DSR / OR / degenerate pooled over the evaluated subsets
  (weighted by prompt counts, as the table does); then the mean over seeds with a t interval (n - 1 degrees of
  freedom, so three seeds give a wide one: it is the spread of training runs, not of prompts).
- Tests: every seed's McNemar table against a baseline is on the same prompts, so the seeds are strata of one
  matched-pairs design; the Mantel-Haenszel test for stratified matched pairs reduces to McNemar on the summed
  discordant counts (b01, b10) (`curate.evaluation.stats.mcnemar_counts`), reported with its exact two-sided
  binomial p over the seeds listed.
"""

from __future__ import annotations

import math

from bench.mosaic._eval import pooled_rate

__all__ = ["seed_rates", "pooled_tests", "across_seeds", "seeds_table"]

_RATE_FIELDS = ("order", "dsr", "or", "degenerate", "n_pos", "n_neg")
"""A row without these (an entry written by hand or by a test of the merge) has no rate to summarise."""
_TEST_FIELDS = ("order", "against", "seed", "n", "b01", "b10", "correct", "correct_against")


def _t_interval(values: list[float]) -> list[float] | None:
    from scipy.stats import t

    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = float(t.ppf(0.975, len(values) - 1)) * sd / math.sqrt(len(values))
    return [mean - half, mean + half]


def seed_rates(rows: list[dict]) -> list[dict]:
    """One entry per trained (config, method, steps, order) with at least one seed: rates per seed, mean, t CI."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        if r.get("seed") is None or not all(k in r for k in _RATE_FIELDS):
            continue
        key = (r.get("config"), r["method"], r.get("steps"), r["order"])
        groups.setdefault(key, {}).setdefault(r["seed"], []).append(r)
    out = []
    for (config, method, steps, order), by_seed in groups.items():
        seeds = sorted(by_seed)
        per_seed = {"dsr": [], "or": [], "degenerate": []}
        for s in seeds:
            rs = by_seed[s]
            per_seed["dsr"].append(pooled_rate(rs, "dsr", ("n_pos",)))
            per_seed["or"].append(pooled_rate(rs, "or", ("n_neg",)))
            per_seed["degenerate"].append(pooled_rate(rs, "degenerate", ("n_pos", "n_neg")))
        gap = [d - o for d, o in zip(per_seed["dsr"], per_seed["or"])]
        entry = {"config": config, "method": method, "steps": steps, "order": order, "seeds": seeds,
                 "n_pos_per_seed": sum(r["n_pos"] for r in by_seed[seeds[0]]),
                 "n_neg_per_seed": sum(r["n_neg"] for r in by_seed[seeds[0]])}
        for name, values in {**per_seed, "dsr_minus_or": gap}.items():
            entry[f"{name}_per_seed"] = [round(v, 2) for v in values]
            entry[f"{name}_mean"] = round(sum(values) / len(values), 2)
            ci = _t_interval(values)
            entry[f"{name}_mean_ci"] = [round(v, 2) for v in ci] if ci else None
        out.append(entry)
    return out


def pooled_tests(paired: list[dict]) -> list[dict]:
    """Per (config, method, steps, against, order): the seeds' McNemar tables summed (stratified matched pairs)."""
    from curate.evaluation.stats import mcnemar_counts

    groups: dict[tuple, list[dict]] = {}
    for p in paired:
        if not all(k in p for k in _TEST_FIELDS):
            continue
        key = (p.get("config"), p["method"], p.get("steps"), p["against"], p["order"])
        groups.setdefault(key, []).append(p)
    out = []
    for (config, method, steps, against, order), tests in groups.items():
        tests = sorted(tests, key=lambda p: p["seed"])
        b01, b10 = sum(p["b01"] for p in tests), sum(p["b10"] for p in tests)
        p_value = mcnemar_counts(b01, b10)["exact_p"]
        n = sum(p["n"] for p in tests)
        out.append({"config": config, "method": method, "steps": steps, "against": against, "order": order,
                    "seeds": [p["seed"] for p in tests], "n_pairs": n,
                    "correct": round(sum(p["correct"] * p["n"] for p in tests) / n, 4),
                    "correct_against": round(sum(p["correct_against"] * p["n"] for p in tests) / n, 4),
                    "b01": b01, "b10": b10, "p_value": p_value,
                    "test": "McNemar on discordant pairs summed over seeds (Mantel-Haenszel, matched pairs), exact"})
    return out


def across_seeds(results: dict) -> dict:
    """The results file's derived section: {"rates": seed_rates(rows), "tests": pooled_tests(paired)}."""
    return {"rates": seed_rates(results.get("rows", [])), "tests": pooled_tests(results.get("paired", []))}


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "(one seed)"


def seeds_table(summary: dict) -> str:
    """Markdown: rates per seed with the mean's t interval, then the pooled tests."""
    lines = ["| config | method | steps | order | seeds | DSR % per seed | DSR mean [95 % t] | OR % per seed "
             "| OR mean [95 % t] | DSR − OR mean [95 % t] | degenerate % mean |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in summary["rates"]:
        lines.append(
            f"| {e['config']} | {e['method']} | {e['steps']} | {e['order']} | {len(e['seeds'])} | "
            f"{' / '.join(f'{v:.1f}' for v in e['dsr_per_seed'])} | {e['dsr_mean']:.1f} {_fmt_ci(e['dsr_mean_ci'])} | "
            f"{' / '.join(f'{v:.1f}' for v in e['or_per_seed'])} | {e['or_mean']:.1f} {_fmt_ci(e['or_mean_ci'])} | "
            f"{e['dsr_minus_or_mean']:+.1f} {_fmt_ci(e['dsr_minus_or_mean_ci'])} | {e['degenerate_mean']:.1f} |")
    lines += ["", "| config | method | steps | vs | order | seeds | pairs | correct % | vs correct % | b01 / b10 "
              "| p (exact) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in summary["tests"]:
        lines.append(f"| {t['config']} | {t['method']} | {t['steps']} | {t['against']} | {t['order']} | "
                     f"{','.join(map(str, t['seeds']))} | {t['n_pairs']} | {100 * t['correct']:.1f} | "
                     f"{100 * t['correct_against']:.1f} | {t['b01']} / {t['b10']} | {t['p_value']:.3g} |")
    return "\n".join(lines)
