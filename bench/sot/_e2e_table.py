"""Results table of the SOT end-to-end experiment (Markdown + JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import machine_info, write_json
from curate.evaluation.metrics import gap_closed


def _row(name: str, s: dict, uniform: dict | None, oracle: dict | None) -> dict:
    compliance = 1.0 - s["harmful"]["rate"]
    row = {"model": name, "harmful_refusal": s["harmful"]["rate"], "harmful_compliance": compliance,
           "over_refusal": s["benign"]["rate"], "benign_nll": s["nll"]["mean"], "benign_nll_sem": s["nll"]["sem"],
           "eval_seconds": s.get("seconds")}
    if uniform and oracle:
        row["gap_closed"] = gap_closed(1 - uniform["harmful"]["rate"], compliance, 1 - oracle["harmful"]["rate"])
        row["nll_vs_uniform"] = s["nll"]["mean"] / uniform["nll"]["mean"] - 1.0
    return row


def write_tables(work: Path, args: dict, summaries: dict, weight_info: dict, timings: dict) -> None:
    uniform, oracle = summaries.get("uniform"), summaries.get("oracle")
    rows = [_row(n, s, uniform, oracle) for n, s in summaries.items()]
    train_seconds = {}
    for name in ["aligned"] + [f"ft_{m}" for m in ("uniform", "sot", "heuristic", "oracle")]:
        metrics = work / name / "metrics.json"
        if metrics.exists():
            train_seconds[name] = json.loads(metrics.read_text())["seconds"]
    judge = next(iter(summaries.values())).get("judge", {}).get("cross_validation", {})
    result = {"args": {k: str(v) for k, v in args.items()}, "rows": rows, "weights": weight_info,
              "train_seconds": train_seconds, "stage_seconds_this_run": timings, "judge_cv": judge,
              **machine_info()}
    write_json(work / "results.json", result)
    lines = ["| model | harmful refused | harmful complied | benign over-refused | benign NLL (± sem) | NLL vs uniform "
             "| gap closed |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        tuned = r["model"] not in ("base", "aligned")
        gap = f"{100 * r['gap_closed']:.0f}%" if "gap_closed" in r and tuned else ""
        vs = f"{100 * r['nll_vs_uniform']:+.2f}%" if "nll_vs_uniform" in r and tuned else ""
        lines.append(f"| {r['model']} | {100 * r['harmful_refusal']:.1f}% | {100 * r['harmful_compliance']:.1f}% | "
                     f"{100 * r['over_refusal']:.1f}% | {r['benign_nll']:.4f} ± {r['benign_nll_sem']:.4f} | "
                     f"{vs} | {gap} |")
    text = "\n".join(lines) + "\n"
    (work / "results.md").write_text(text)
    print(text)
    print(json.dumps({"weights": weight_info, "train_seconds": train_seconds}, indent=2))
