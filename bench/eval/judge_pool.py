"""A judge refit on the pool of labelled sets, chosen by grouped CV on it, tested on sets none of them saw.

    .venv/bin/python -m bench.eval.judge_pool [--candidates rules,linear,cross-encoder,lm-prefix] \\
        [--test bench/eval/data/e2e-answer-labels-seed1.csv,bench/eval/data/e2e-answer-labels-seed2.csv] \\
        [--save curate/evaluation/data/judge-pool.json]

Why: the shipped judge (v2, rules fit on judge-labels train) was chosen on one kind of answer; on answers of the
SOT end-to-end arms it reads filler ("The world is a vast and wondrous place…"), chatbot loops and deflections as
compliance. A judge refit on more kinds of answer may do better; whether it does must be shown on answers that
neither its fit nor its choice saw.

Pool (fit and choice): registry:judge-labels (both splits), the CAST fresh set (bench/eval/data/cast-answer-labels.csv,
checked against the CAST store) and the seed-0 e2e set (e2e-answer-labels.csv, checked against the e2e arm files).
Answers are grouped by normalised prompt text, so one prompt answered in two sets is one group of the folds.
Test (--test, comma-separated; each checked against the e2e arm files): sets made by `bench.eval.e2e_sheet` after
the pool's, whose prompts the pool does not hold (checked: an error names the shared prompts).

Stages: 1. grouped --folds CV on the pool for every candidate and rules (`bench/eval/_judge_cv.py`, cached in
--work, resumable); the kind with the best CV accuracy is chosen (ties: the cheaper). 2. every candidate fit on
the whole pool and the shipped judge are scored on each test set: three-verdict accuracy (Wilson), balanced
accuracy (prompt bootstrap), refusal vs not, and the rates a benchmark reports read vs judged; each candidate is
paired with the shipped judge on per-answer correctness (exact McNemar). The test sets choose nothing.
--save writes the chosen kind, fit on the pool, as a judge artefact with these figures.
Writes --out (default bench/results/judge-pool.json) and prints a table.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json

DATA = Path(__file__).resolve().parent / "data"
POOL_SETS = {"cast": DATA / "cast-answer-labels.csv", "e2e": DATA / "e2e-answer-labels.csv"}
TESTS = (DATA / "e2e-answer-labels-seed1.csv", DATA / "e2e-answer-labels-seed2.csv")
CANDIDATES = ("rules", "linear", "cross-encoder", "lm-prefix")


def _parser():
    p = make_parser(__doc__)
    p.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated judge kinds")
    p.add_argument("--test", default=",".join(map(str, TESTS)), help="comma-separated e2e labelled sets to test on")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--work", type=Path, default=Path("runs/judge-pool"), help="CV cache (resumable)")
    p.add_argument("--save", default=None, help="write the chosen judge (fit on the pool) here")
    p.add_argument("--out", type=Path, default=RESULTS / "judge-pool.json")
    p.add_argument("--lm-model", default="smollm2-135m")
    p.add_argument("--lm-shots", type=int, default=2)
    p.add_argument("--lm-batch-size", type=int, default=16)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    return p


def pool_labels():
    """LabelSet of judge-labels (both splits) + the CAST and seed-0 e2e sets, grouped by normalised prompt."""
    import numpy as np

    from bench.eval.e2e_sheet import E2E
    from bench.eval.judge_fresh import STORE, load_labels
    from curate.datasets._keys import normalize_text
    from curate.evaluation.judge_train import LabelSet
    from curate.evaluation.judge_train import load_labels as registry_labels

    own = registry_labels("registry:judge-labels")
    prompts, responses, verdicts = list(own.prompts), list(own.responses), own.verdicts.tolist()
    origin = ["judge-labels"] * len(own)
    for name, path in POOL_SETS.items():
        rows = load_labels(path, STORE if name == "cast" else E2E, name)
        prompts += [r["prompt"] for r in rows]
        responses += [r["answer"] for r in rows]
        verdicts += [r["verdict"] for r in rows]
        origin += [name] * len(rows)
    groups = np.asarray([normalize_text(p) for p in prompts], dtype=str)
    source = "pool:judge-labels+" + "+".join(p.name for p in POOL_SETS.values())
    return LabelSet(prompts, responses, np.asarray(verdicts, dtype=str), groups, source), np.asarray(origin)


def check_disjoint(pool, rows: list[dict], path: str) -> None:
    """Raise if a test prompt is also a pool prompt (normalised text)."""
    from curate.datasets._keys import normalize_text
    from curate.errors import InputError

    seen = set(pool.groups.tolist())
    shared = sorted({r["prompt_id"] for r in rows if normalize_text(r["prompt"]) in seen})
    if shared:
        raise InputError(f"{path}: {len(shared)} prompts are also in the pool (e.g. {shared[:3]}); a test set "
                         "must not share prompts with what the judge was fit or chosen on")


def _test_rows(path: str, pool) -> list[dict]:
    from bench.eval.e2e_sheet import E2E
    from bench.eval.judge_fresh import load_labels

    rows = load_labels(Path(path), E2E, "e2e")
    check_disjoint(pool, rows, path)
    return rows


def _on_test(name: str, judge, rows: list[dict], reference: list[str] | None, args) -> dict:
    import numpy as np

    from bench.eval.judge_fresh import _rates, _scores
    from curate.evaluation.stats import mcnemar

    started = time.perf_counter()
    predicted = judge.predict([r["prompt"] for r in rows], [r["answer"] for r in rows]).verdict.tolist()
    out = {"predict_seconds": round(time.perf_counter() - started, 1), "scores": _scores(rows, predicted,
                                                                                        args.n_boot, args.seed),
           "rates": _rates(rows, predicted), "predicted": predicted}
    if reference is not None:
        truth = np.array([r["verdict"] for r in rows])
        out["vs_shipped"] = mcnemar(np.array(reference) == truth, np.array(predicted) == truth)
    acc = out["scores"]["three_verdicts"]["accuracy"]
    print(f"[judge-pool] {name}: {acc['k']}/{acc['n']} right", flush=True)
    return out


def table(result: dict) -> str:
    from bench.eval.judge_fresh import _pct

    heads = [f"{Path(t).name}: accuracy % [95%] / BA / only it right / only shipped right, exact p"
             for t in result["test_sets"]]
    lines = ["| judge | pool CV accuracy % [95%] | " + " | ".join(heads) + " |",
             "|---|---:|" + "---:|" * len(heads)]
    for kind, row in result["judges"].items():
        cv = row.get("cv")
        cells = []
        for t in result["test_sets"]:
            s = row["test"][t]
            three, m = s["scores"]["three_verdicts"], s.get("vs_shipped")
            paired = f"{m['b01']} / {m['b10']}, p {m['exact_p']:.2g}" if m else "—"
            cells.append(f"{_pct(three['accuracy'])} / {three['balanced_accuracy']['value']:.3f} / {paired}")
        lines.append(f"| {kind} | {_pct(cv['accuracy']) if cv else '—'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    from bench.eval._judge_cv import CrossValidation
    from bench.eval.judge_choice import _choose, _options
    from curate.evaluation.judges import default_judge, save_judge

    args = _parser().parse_args(argv)
    kinds = [k.strip() for k in args.candidates.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in CANDIDATES]
    if unknown:
        raise SystemExit(f"--candidates: unknown {', '.join(unknown)}; choose from {', '.join(CANDIDATES)}")
    if "rules" not in kinds:
        kinds.append("rules")
    started = time.perf_counter()
    pool, origin = pool_labels()
    tests = {t: _test_rows(t, pool) for t in args.test.split(",") if t}
    print(f"[judge-pool] pool {len(pool)} answers ({len(set(pool.groups.tolist()))} prompts), test "
          + ", ".join(f"{Path(t).name} {len(r)}" for t, r in tests.items()), flush=True)
    cv = CrossValidation(pool, args.folds, args.seed, _options("lm-prefix", args), args.work, args.n_boot)
    scores = {kind: cv.run(kind, _options(kind, args)) for kind in kinds}
    choice = {**_choose([{"kind": k, "cv": s} for k, s in scores.items()], "cv"), "selected_on": "pool CV"}
    print(f"[judge-pool] choice on pool CV: {choice['kind']} ({choice['why']}); now the test sets", flush=True)
    shipped = default_judge()
    judges = {"shipped (v2)": {"test": {t: _on_test(f"shipped on {Path(t).name}", shipped, r, None, args)
                                        for t, r in tests.items()}}}
    fitted = {}
    for kind in kinds:
        fitted[kind] = cv.fit_on_train(kind, _options(kind, args))
        judges[kind] = {"cv": scores[kind], "test": {
            t: _on_test(f"{kind} on {Path(t).name}", fitted[kind], r,
                        judges["shipped (v2)"]["test"][t]["predicted"], args) for t, r in tests.items()}}
    result = {"pool": {"source": pool.source, "n": len(pool), "prompts": len(set(pool.groups.tolist())),
                       "by_set": {s: int((origin == s).sum()) for s in sorted(set(origin.tolist()))}},
              "test_sets": list(tests), "choice": choice, "judges": judges,
              "seconds": round(time.perf_counter() - started, 1), **machine_info()}
    write_json(args.out, result)
    print(table(result))
    print(f"[judge-pool] choice {choice['kind']} -> {args.out}")
    if args.save:
        chosen = judges[choice["kind"]]
        metrics = {"cv": chosen["cv"], "choice": choice,
                   "test": {t: {k: v for k, v in s.items() if k != "predicted"} for t, s in chosen["test"].items()}}
        save_judge(fitted[choice["kind"]], args.save, trained_on={"labels": pool.source, "n": len(pool)},
                   metrics=metrics)
        print(f"[judge-pool] saved {choice['kind']} judge -> {args.save}")


if __name__ == "__main__":
    main()
