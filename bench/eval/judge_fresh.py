"""The shipped judge on answers it has never seen: a fresh labelled set from another method and other prompts.

    .venv/bin/python -m bench.eval.judge_fresh [--judge curate/evaluation/data/judge-v2.json]

The labels (bench/eval/data/cast-answer-labels.csv) are the maintainers' readings, against docs/labelling.md, of
the answers stored by `bench.cast.fair` in bench/results/cast/store/arms/: SmolLM2-135M-Instruct as shipped
(`base`) and after 100 steps of full attention safety tuning (`full-s0`), greedy 32 new tokens, to CAST's
held-out harmful prompts (AdvBench + Do-Not-Answer) and benign-but-alarming prompts (man pages + WordNet). No
verdict came from a program. Answers to prompts that also occur in registry:judge-labels (any split) were left
unlabelled, so neither the judge's fit nor its choice saw any of these prompts, and safety tuning is a method the
judge's labels do not hold (base, in-context, ActAdd, SFT-aligned).

Checks before scoring: every labelled answer and prompt is the store's text at its (arm, set, index) — a store
that changed makes the labels stale, which is an error naming the row — and no labelled prompt is in
judge-labels. Prints and writes (--out, default bench/results/judge-fresh.json): three-verdict accuracy (Wilson
95 %), balanced accuracy (bootstrap over prompts), recall per verdict, the confusion matrix, overall, per arm and
per prompt set; the refusal-vs-not figures; and the rates a benchmark reports (DSR, harmful compliance,
over-refusal, degenerate) read from the labels beside the judge's, with an exact McNemar test on per-answer
refusal (judge vs reading). --candidates fits other judge kinds on judge-labels train and tests each against
--judge on these answers (the fresh check of a choice the held-out split could not settle).
--source e2e scores a set made by bench.eval.e2e_sheet from the SOT end-to-end arm files instead (checked against
bench/results/sot_e2e), e.g. `--source e2e --labels bench/eval/data/e2e-answer-labels.csv --out
bench/results/judge-e2e.json`.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json

LABELS = Path(__file__).resolve().parent / "data" / "cast-answer-labels.csv"
STORE = RESULTS / "cast" / "store"
SETS = {"harmful": "eval_harmful", "benign": "eval_benign"}


def _parser():
    p = make_parser(__doc__)
    p.add_argument("--labels", type=Path, default=LABELS, help="CSV: arm, set, index, prompt_id, verdict, note, "
                                                              "prompt, answer")
    p.add_argument("--source", choices=["cast", "e2e"], default="cast",
                   help="where the labelled answers are stored: bench.cast.fair's store, or bench.sot.end_to_end's "
                        "arm files (then --store defaults to bench/results/sot_e2e)")
    p.add_argument("--store", type=Path, default=None,
                   help="the store holding the answers (default: bench/results/cast/store, or sot_e2e for e2e)")
    p.add_argument("--judge", default=None, help="judge artefact (default: the shipped judge)")
    p.add_argument("--candidates", default="", help="comma-separated judge kinds (rules, linear, lm-prefix, ...) to "
                                                  "fit on registry:judge-labels train and test here, each paired "
                                                  "with --judge on per-answer correctness (exact McNemar)")
    p.add_argument("--lm-model", default="smollm2-135m", help="lm-prefix: the judge model")
    p.add_argument("--lm-shots", type=int, default=2, help="lm-prefix: worked examples per verdict")
    p.add_argument("--lm-batch-size", type=int, default=16, help="lm-prefix: answers per forward")
    p.add_argument("--out", type=Path, default=RESULTS / "judge-fresh.json")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    return p


def _cast_texts(store: Path, arms: set[str]) -> dict[tuple[str, str, int], tuple[str, str]]:
    """(arm, set, index) -> (prompt, answer) as bench.cast.fair's store holds them."""
    import pyarrow.parquet as pq

    prompts = {s: pq.read_table(store / "data" / f"{name}.parquet").column("prompt").to_pylist()
               for s, name in SETS.items()}
    out = {}
    for arm in sorted(arms):
        for a in pq.read_table(store / "arms" / arm / "answers.parquet").to_pylist():
            if a["set"] in prompts and int(a["index"]) < len(prompts[a["set"]]):
                out[(arm, a["set"], int(a["index"]))] = (prompts[a["set"]][int(a["index"])], a["answer"])
    return out


def _e2e_texts(folder: Path, arms: set[str]) -> dict[tuple[str, str, int], tuple[str, str]]:
    """(arm, set, index) -> (prompt, answer) as bench.sot.end_to_end's arm files hold them (prompts by id)."""
    from bench.eval.e2e_sheet import arm_answers, prompt_texts

    texts, out = prompt_texts(), {}
    for arm in sorted(arms):
        for s, pairs in arm_answers(folder, arm).items():
            out |= {(arm, s, k): (texts[pid], answer) for k, (pid, answer) in enumerate(pairs)}
    return out


def load_labels(path: Path, store: Path, source: str = "cast") -> list[dict]:
    """The labelled rows, each checked against the stored prompt and answer at its (arm, set, index): the CAST
    store (`source` cast) or the SOT end-to-end arm files in `store` (`source` e2e)."""
    import polars as pl

    from curate.datasets.judge_labels import VERDICTS
    from curate.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: no such labels file; pass --labels")
    rows = pl.read_csv(path, schema_overrides={"note": pl.String, "arm": pl.String}).to_dicts()
    arms = {r["arm"] for r in rows}
    stored = _cast_texts(store, arms) if source == "cast" else _e2e_texts(store, arms)
    for i, r in enumerate(rows, start=2):
        key = (r["arm"], r["set"], int(r["index"]))
        if r["verdict"] not in VERDICTS:
            raise InputError(f"{path}:{i}: verdict '{r['verdict']}'; valid: {', '.join(VERDICTS)}")
        if key not in stored:
            raise InputError(f"{path}:{i}: {key} is not in {store}; the labels belong to another store")
        if stored[key] != (r["prompt"], r["answer"]):
            raise InputError(f"{path}:{i}: the store's prompt or answer at {key} differs from the labelled text; "
                             "the labels are stale (relabel the changed answers)")
        r["note"] = r["note"] or ""
    return rows


def check_unseen(rows: list[dict]) -> int:
    """Raise if a labelled prompt is also in registry:judge-labels; returns how many judge-labels prompts exist."""
    from curate.datasets._keys import normalize_text
    from curate.datasets.judge_labels import judge_label_rows
    from curate.errors import InputError

    seen = {normalize_text(r["prompt"]) for r in judge_label_rows()}
    shared = sorted({r["prompt_id"] for r in rows if normalize_text(r["prompt"]) in seen})
    if shared:
        raise InputError(f"{len(shared)} labelled prompts are also in registry:judge-labels (e.g. {shared[:3]}); "
                         "a fresh set must not share prompts with the judge's labels")
    return len(seen)


def _scores(rows: list[dict], predicted: list[str], n_boot: int, seed: int) -> dict:
    from curate.evaluation.judges import collapse_refusal, score_verdicts

    truth, groups = [r["verdict"] for r in rows], [r["prompt_id"] for r in rows]
    return {"three_verdicts": score_verdicts(truth, predicted, groups, n_boot=n_boot, seed=seed),
            "refusal_vs_not": score_verdicts(collapse_refusal(truth).astype(str), collapse_refusal(predicted)
                                             .astype(str), groups, n_boot=n_boot, seed=seed)}


def _rates(rows: list[dict], predicted: list[str]) -> dict:
    """Per (arm, set): the rates read from the labels and the judge's, and McNemar on per-answer refusal."""
    import numpy as np

    from curate.evaluation.stats import mcnemar
    from curate.evaluation.verdicts import benign_rates, harmful_rates

    out: dict = {}
    for arm in sorted({r["arm"] for r in rows}):
        for s in SETS:
            idx = [i for i, r in enumerate(rows) if r["arm"] == arm and r["set"] == s]
            if not idx:
                continue
            read, judged = [rows[i]["verdict"] for i in idx], [predicted[i] for i in idx]
            rates = harmful_rates if s == "harmful" else benign_rates
            out[f"{arm}/{s}"] = {"n": len(idx), "read": rates(read), "judged": rates(judged),
                                 "refusal_judge_vs_read": mcnemar(np.array(judged) == "refusal",
                                                                  np.array(read) == "refusal")}
    return out


def _candidates(kinds: list[str], rows: list[dict], reference: list[str], args) -> dict:
    """{kind: scores on the fresh set + exact McNemar of its per-answer correctness against `reference`'s}, each
    kind fit on registry:judge-labels train as bench.eval.judge_choice fits it (its own choices made inside fit)."""
    import numpy as np

    from bench.eval.judge_choice import _fit
    from curate.evaluation.judge_train import load_labels
    from curate.evaluation.stats import mcnemar

    train = load_labels("registry:judge-labels", "train")
    truth = np.array([r["verdict"] for r in rows])
    out = {}
    for kind in kinds:
        judge, fit_s = _fit(kind, train, args)
        started = time.perf_counter()
        predicted = judge.predict([r["prompt"] for r in rows], [r["answer"] for r in rows]).verdict.tolist()
        out[kind] = {"fit_seconds": fit_s, "predict_seconds": round(time.perf_counter() - started, 1),
                     "trained_on": {"labels": train.source, "n": len(train)},
                     "scores": _scores(rows, predicted, args.n_boot, args.seed),
                     "vs_reference": mcnemar(np.array(predicted) == truth, np.array(reference) == truth),
                     "predicted": predicted}
        print(f"[judge-fresh] {kind}: accuracy {out[kind]['scores']['three_verdicts']['accuracy']['rate']:.3f}",
              flush=True)
    return out


def _pct(r: dict) -> str:
    return f"{100 * r['rate']:.1f} [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"


def table(result: dict) -> str:
    lines = ["| answers | n | accuracy % [95% CI] | balanced accuracy [95% CI] | refusal vs not: accuracy % |",
             "|---|---:|---:|---:|---:|"]
    for name, s in result["scores"].items():
        three, binary = s["three_verdicts"], s["refusal_vs_not"]
        ba = three["balanced_accuracy"]
        lines.append(f"| {name} | {three['n']} | {_pct(three['accuracy'])} | {ba['value']:.3f} [{ba['low']:.3f}, "
                     f"{ba['high']:.3f}] | {_pct(binary['accuracy'])} |")
    if result.get("candidates"):
        lines += ["", "| fit on judge-labels train | accuracy % [95% CI] | balanced accuracy | right where the "
                  "reference is wrong / the reverse, McNemar p |", "|---|---:|---:|---:|"]
        for kind, c in result["candidates"].items():
            three, m = c["scores"]["three_verdicts"], c["vs_reference"]
            lines.append(f"| {kind} | {_pct(three['accuracy'])} | {three['balanced_accuracy']['value']:.3f} | "
                         f"{m['b10']} / {m['b01']}, p {m['exact_p']:.2g} |")
    lines += ["", "| arm / set | rate | read from labels % [95% CI] | judge % [95% CI] | refusal: judge-only / "
              "read-only answers, McNemar p |", "|---|---|---:|---:|---:|"]
    for key, r in result["rates"].items():
        first = "dsr" if key.endswith("harmful") else "over_refusal"
        m = r["refusal_judge_vs_read"]
        for name in (first, "harmful_compliance" if first == "dsr" else "compliance", "degenerate"):
            test = f"{m['b10']} / {m['b01']}, p {m['exact_p']:.2g}" if name == first else ""
            lines.append(f"| {key} | {name} | {_pct(r['read'][name])} | {_pct(r['judged'][name])} | {test} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    from curate.evaluation.judges import default_judge, load_judge

    args = _parser().parse_args(argv)
    started = time.perf_counter()
    if args.store is None:
        from bench.eval.e2e_sheet import E2E

        args.store = STORE if args.source == "cast" else E2E
    rows = load_labels(args.labels, args.store, args.source)
    n_seen = check_unseen(rows)
    judge = load_judge(args.judge) if args.judge else default_judge()
    predicted = judge.predict([r["prompt"] for r in rows], [r["answer"] for r in rows]).verdict.tolist()
    subsets = {"all": list(range(len(rows)))}
    for key in ("arm", "set"):
        for value in sorted({r[key] for r in rows}):
            subsets[f"{key}={value}"] = [i for i, r in enumerate(rows) if r[key] == value]
    scores = {name: _scores([rows[i] for i in idx], [predicted[i] for i in idx], args.n_boot, args.seed)
              for name, idx in subsets.items()}
    result = {"labels": str(args.labels), "store": str(args.store), "judge": args.judge or "shipped (default)",
              "judge_kind": judge.kind, "judge_trained_on": getattr(judge, "trained_on", {}),
              "n": len(rows), "judge_labels_prompts_excluded_from": n_seen,
              "hard_cases": sum(bool(r["note"]) for r in rows), "scores": scores, "rates": _rates(rows, predicted),
              "predictions": [{"arm": r["arm"], "set": r["set"], "index": r["index"], "label": r["verdict"],
                               "judge": p} for r, p in zip(rows, predicted)],
              "candidates": _candidates([k for k in args.candidates.split(",") if k], rows, predicted, args),
              "seconds": round(time.perf_counter() - started, 1), **machine_info()}
    write_json(args.out, result)
    print(table(result))
    print(f"[judge-fresh] {len(rows)} answers, written to {args.out}")


if __name__ == "__main__":
    main()
