"""Choose the shipped judge on the train split by grouped cross-validation, then score every candidate on
held-out answers and across sources, with 95% intervals, and test the choice against the rules judge (McNemar).

    .venv/bin/python -m bench.eval.judge_choice [--labels registry:judge-labels] \
        [--candidates rules,linear,cross-encoder,lm,lm-prefix] [--save curate/evaluation/data/judge-v2.json] \
        [--select cv --folds 5 --work runs/judge-choice]
    .venv/bin/python -m bench.eval.judge_choice --candidates lm-prefix [--lm-model smollm2-135m --lm-shots 2]
    .venv/bin/python -m bench.eval.judge_choice --candidates rules,cross-encoder --ce-layers 2 --ce-epochs 8 \
        --work runs/judge-ce-l2e8 --out bench/results/judge-ce/l2-e8.json      # one cross-encoder variant
    .venv/bin/python -m bench.eval.judge_choice --interim --candidates rules --save curate/evaluation/data/judge-v2.json

Stages (curate.evaluation.judges; --select cv, the default):
0. selection, on the train split only (bench/eval/_judge_cv.py): every candidate, and rules always (the reference
   of the paired test), is scored by grouped K-fold CV (--folds, folds of whole prompts, the same for every kind),
   its own inner choice (lm-prefix's head and C) made inside each outer fold; the kind with the best CV accuracy
   is chosen, a tie (the same number right) going to the cheaper. Fold verdicts and lm-prefix's model pass are
   cached under --work, so a stopped run resumes. Only then are held-out answers scored (stages 1-2); the
   per-answer verdicts go to --predictions (Parquet: id, prompt_id, label, verdict_KIND), and "choice" gets the
   chosen kind's and the rules' held-out accuracy (Wilson) with McNemar on their per-answer correctness, and
   "selected_on": "train CV".
1. own labels: fit on split train of --labels, score on split test (three verdicts): accuracy with its Wilson
   interval, balanced accuracy with a bootstrap interval over prompts, recall per verdict (Wilson).
2. cross-source, refusal vs not-refusal: fit on own train -> score on registry:refusals (PyRIT's 169 human
   labels; PyRIT labels off-topic answers as refusals, which docs/labelling.md calls degenerate, so a judge that
   follows our guideline loses points there), and fit on registry:refusals (label 0 standing as compliance) ->
   score on own test.
3. --select held-out (the earlier rule, which chooses on the test split): the highest held-out own accuracy; a
   tie goes to the cheaper candidate (rules < linear < cross-encoder < lm). Either way the chosen judge as fit on
   train is what --save writes, with its figures, so the shipped metrics are held-out figures.
lm-prefix (the lm prompt with its shared prefix encoded once) picks its head by grouped cross-validation on the
train split inside `fit`; the row records that table under "selection". --lm-model / --lm-shots /
--lm-batch-size set it up.
--out is merged, not replaced: rows of candidates not run now (and other top-level keys) stay, this run's rows
replace those of the same kind, and the choice is made over all rows of the same --labels (cv: of the same
folds, fingerprint and seed). --save writes the
choice only when it was run now (else it names the rerun to make).
--interim (no own labels yet): candidates that need no labels (rules at their default thresholds, lm
zero-shot) are scored on registry:refusals only, and the best is saved with a note saying so.
Writes bench/results/judge.json (or --out) and prints a table.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, write_json

CANDIDATES = ("rules", "linear", "cross-encoder", "lm", "lm-prefix")


def _parser():
    p = make_parser(__doc__)
    p.add_argument("--labels", default="registry:judge-labels", help="own labelled answers (splits train / test)")
    p.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated kinds to compare")
    p.add_argument("--interim", action="store_true", help="no own labels: score label-free candidates on refusals")
    p.add_argument("--save", default=None, help="write the chosen judge artefact here")
    p.add_argument("--out", default=str(RESULTS / "judge.json"))
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lm-model", default="smollm2-135m", help="lm-prefix: the judge model (registry name or folder)")
    p.add_argument("--lm-shots", type=int, default=2, help="lm-prefix: worked examples per verdict in the prefix")
    p.add_argument("--lm-batch-size", type=int, default=16, help="lm-prefix: answers per forward")
    p.add_argument("--ce-layers", type=int, default=None, help="cross-encoder: top blocks tuned (default 1)")
    p.add_argument("--ce-epochs", type=int, default=None, help="cross-encoder: epochs (default: the judge's 4)")
    p.add_argument("--ce-lr", type=float, default=None, help="cross-encoder: block learning rate (default 5e-5)")
    p.add_argument("--select", choices=("cv", "held-out"), default="cv",
                   help="choose by grouped CV on train (cv) or by held-out accuracy (held-out: chooses on test)")
    p.add_argument("--folds", type=int, default=5, help="cv: outer folds over train prompts")
    p.add_argument("--work", type=Path, default=Path("runs/judge-choice"), help="cv: cache of folds and scores")
    p.add_argument("--predictions", type=Path, default=None,
                   help="cv: held-out verdicts per kind (default: beside --out, NAME-heldout.parquet)")
    return p


def _options(kind: str, args, zero_shot: bool = False) -> dict:
    """Constructor arguments of one candidate from the command line (lm-prefix's model and shots, the
    cross-encoder's --ce-* settings where given; the other kinds take none)."""
    if kind == "cross-encoder":
        given = {"tune_layers": getattr(args, "ce_layers", None), "epochs": getattr(args, "ce_epochs", None),
                 "lr": getattr(args, "ce_lr", None)}
        return {k: v for k, v in given.items() if v is not None}
    if kind != "lm-prefix":
        return {}
    return {"model_name": args.lm_model, "shots": args.lm_shots, "batch_size": args.lm_batch_size,
            **({"head": "argmax"} if zero_shot else {})}


def _score(judge, labels, binary: bool, args, verdicts: dict | None = None) -> dict:
    """Scores of judge on labels; its per-answer verdicts go to verdicts["predicted"] when a dict is given."""
    from curate.evaluation.judges import collapse_refusal, score_verdicts

    started = time.perf_counter()
    predicted = judge.predict(labels.prompts, labels.responses).verdict
    if verdicts is not None:
        verdicts["predicted"] = predicted
    truth = labels.verdicts
    if binary:
        truth, predicted = collapse_refusal(truth), collapse_refusal(predicted)
    result = score_verdicts(truth, predicted, labels.groups, n_boot=args.n_boot, seed=args.seed)
    return {"labels": labels.source, "binary": binary, "predict_seconds": round(time.perf_counter() - started, 1),
            **result}


def _fit(kind: str, labels, args):
    from curate.evaluation.judges import judge_class

    started = time.perf_counter()
    judge = judge_class(kind)(**_options(kind, args)).fit(labels.prompts, labels.responses, labels.verdicts)
    return judge, round(time.perf_counter() - started, 1)


def _candidate(kind: str, own_train, own_test, refusals, args, cv=None) -> tuple[object, dict, object]:
    """(judge fit on own train, its row, its held-out verdicts); with `cv` the fit reuses cv's cached scores."""
    if cv is None:
        judge, seconds = _fit(kind, own_train, args)
    else:
        started = time.perf_counter()
        judge, seconds = cv.fit_on_train(kind, _options(kind, args)), round(time.perf_counter() - started, 1)
    verdicts: dict = {}
    row = {"kind": kind, "fit_seconds": seconds, "held_out": _score(judge, own_test, False, args, verdicts),
           "own_to_refusals": _score(judge, refusals, True, args)}
    if getattr(judge, "selection", None):
        row["selection"] = judge.selection
    other, row["refusals_fit_seconds"] = _fit(kind, refusals, args)
    row["refusals_to_own"] = _score(other, own_test, True, args)
    return judge, row, verdicts["predicted"]


def _choose(rows: list[dict], key: str, spec: dict | None = None) -> dict:
    """The best row by rows[key] accuracy (ties: the cheaper kind); with `spec`, only rows CV'd on those folds."""
    from curate.evaluation.judges import judge_class

    rows = [r for r in rows if key in r and (spec is None or r[key].get("spec") == spec)]
    best = max(rows, key=lambda r: (r[key]["accuracy"]["k"], -judge_class(r["kind"]).cost))
    ties = [r["kind"] for r in rows if r[key]["accuracy"]["k"] == best[key]["accuracy"]["k"]]
    right = f"{best[key]['accuracy']['k']}/{best[key]['accuracy']['n']}"
    why = (f"highest {'train CV' if key == 'cv' else key} accuracy ({right})"
           + (f"; tied with {', '.join(k for k in ties if k != best['kind'])}, cheaper" if len(ties) > 1 else ""))
    return {"kind": best["kind"], "why": why}


def _interim(kinds, refusals, args) -> tuple[dict, list[dict]]:
    from curate.evaluation.judges import judge_class

    judges, rows = {}, []
    for kind in kinds:
        if kind not in ("rules", "lm", "lm-prefix"):
            print(f"skip {kind}: it needs labels to fit")
            continue
        judges[kind] = judge_class(kind)(**_options(kind, args, zero_shot=True))
        rows.append({"kind": kind, "fit_seconds": 0.0, "on_refusals": _score(judges[kind], refusals, True, args)})
    return judges, rows


def _fmt(r: dict | None) -> str:
    if r is None:
        return "-"
    acc, ba = r["accuracy"], r["balanced_accuracy"]
    return (f"{100 * acc['rate']:.1f} [{100 * acc['low']:.1f}, {100 * acc['high']:.1f}] / "
            f"BA {100 * ba['value']:.1f} [{100 * ba['low']:.1f}, {100 * ba['high']:.1f}]")


def _table(rows: list[dict]) -> str:
    with_cv = any("cv" in r for r in rows)
    lines = ["| candidate | held-out own (acc [95%] / BA [95%]) | recall r / c / d | own -> refusals | "
             "refusals -> own | fit s |" + (" train CV (acc [95%] / BA [95%]) |" if with_cv else ""),
             "|---|---|---|---|---|---:|" + ("---|" if with_cv else "")]
    for r in rows:
        recall = r.get("held_out", {}).get("recall", {})
        rec = " / ".join(f"{100 * recall[v]['rate']:.0f}" if v in recall else "-"
                         for v in ("refusal", "compliance", "degenerate"))
        to_refusals = r.get("own_to_refusals") or r.get("on_refusals")
        lines.append(f"| {r['kind']} | {_fmt(r.get('held_out'))} | {rec if recall else '-'} | {_fmt(to_refusals)} | "
                     f"{_fmt(r.get('refusals_to_own'))} | {r['fit_seconds']} |"
                     + (f" {_fmt(r.get('cv'))} |" if with_cv else ""))
    return "\n".join(lines)


def _merged(out: Path, rows: list[dict], labels) -> tuple[dict, list[dict]]:
    """(earlier top-level keys of `out`, all rows): earlier rows of other kinds on the same labels, then these."""
    import json

    try:
        earlier = json.loads(out.read_text()) if out.is_file() else {}
    except json.JSONDecodeError:
        print(f"note: {out} is not readable JSON; writing it afresh")
        earlier = {}
    if not isinstance(earlier, dict):
        earlier = {}
    kept = earlier.get("candidates", []) if earlier.get("labels") == labels else []
    if earlier.get("candidates") and not kept:
        print(f"note: {out} holds rows for labels {earlier.get('labels')!r}, not {labels!r}; they are replaced")
    ran = {r["kind"] for r in rows}
    order = {kind: i for i, kind in enumerate(CANDIDATES)}
    merged = [r for r in kept if r.get("kind") not in ran] + rows
    return earlier, sorted(merged, key=lambda r: order.get(r["kind"], len(order)))


def _held_out_rows(kinds, own_train, own_test, refusals, args, cv=None) -> tuple[dict, list[dict], dict]:
    """(judges, rows, held-out verdicts) of every kind fit on own train (stages 1-2)."""
    judges, rows, verdicts = {}, [], {}
    for kind in kinds:
        judges[kind], row, verdicts[kind] = _candidate(kind, own_train, own_test, refusals, args, cv)
        rows.append(row)
        print(f"{kind}: held-out {_fmt(row['held_out'])}", flush=True)
    return judges, rows, verdicts


def _cv_choice(kinds, own_train, args) -> tuple[object, dict[str, dict], dict]:
    """Stage 0: (the CV, its row per kind, the choice over these and earlier rows CV'd on the same folds)."""
    from bench.eval._judge_cv import CrossValidation

    cv = CrossValidation(own_train, args.folds, args.seed, _options("lm-prefix", args), args.work, args.n_boot)
    scores = {}
    for kind in kinds:
        scores[kind] = cv.run(kind, _options(kind, args))
        print(f"{kind}: train CV {_fmt(scores[kind])}", flush=True)
    _, rows = _merged(Path(args.out), [{"kind": k, "cv": row} for k, row in scores.items()], args.labels)
    choice = {**_choose(rows, "cv", cv.spec), "selected_on": "train CV"}
    print(f"choice on train CV: {choice['kind']} ({choice['why']}); now scoring held-out", flush=True)
    return cv, scores, choice


def _paired(own_test, verdicts: dict, choice: dict, args) -> dict:
    """Held-out verdicts written per kind, and the chosen kind against rules on them."""
    from bench.eval._judge_cv import held_out_ids, paired_with_rules, write_predictions

    out = Path(args.out)
    path = args.predictions or out.with_name(f"{out.stem}-heldout.parquet")
    table = write_predictions(path, held_out_ids(args.labels, own_test), own_test, verdicts)
    return {**paired_with_rules(table, choice["kind"]), "predictions": str(path)}


def _print_paired(held_out: dict) -> None:
    if "mcnemar" not in held_out:
        print(f"paired test: {held_out['note']}")
        return
    chosen, rules, test = held_out["chosen"], held_out["rules"], held_out["mcnemar"]
    print(f"held-out: {chosen['kind']} {chosen['k']}/{chosen['n']} vs rules {rules['k']}/{rules['n']}; McNemar "
          f"only {chosen['kind']} right {test['b01']}, only rules right {test['b10']}, p = {test['p_value']:.3g} "
          f"({test['method']}) -> {held_out['predictions']}")


def _own(kinds, refusals, args) -> tuple[dict, list[dict], dict | None, dict]:
    """(judges, rows, the choice when made on train CV, what they were trained on) on own labels."""
    from curate.evaluation.judge_train import load_labels

    own_train, own_test = load_labels(args.labels, "train"), load_labels(args.labels, "test")
    trained_on = {"labels": own_train.source, "n": len(own_train)}
    if args.select == "held-out":
        judges, rows, _ = _held_out_rows(kinds, own_train, own_test, refusals, args)
        return judges, rows, None, trained_on
    if "rules" not in kinds:
        print("cv: rules added (the reference of the paired test on held-out)")
        kinds = [*kinds, "rules"]
    cv, scores, choice = _cv_choice(kinds, own_train, args)
    judges, rows, verdicts = _held_out_rows(kinds, own_train, own_test, refusals, args, cv)
    for row in rows:
        row["cv"] = scores[row["kind"]]
    choice["held_out"] = _paired(own_test, verdicts, choice, args)
    return judges, rows, choice, trained_on


def main() -> None:
    args = _parser().parse_args()
    from curate.evaluation.judge_train import refusal_label_set
    from curate.evaluation.judges import save_judge

    kinds = [k.strip() for k in args.candidates.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in CANDIDATES]
    if unknown:
        raise SystemExit(f"--candidates: unknown {', '.join(unknown)}; choose from {', '.join(CANDIDATES)}")
    started = time.perf_counter()
    refusals = refusal_label_set()
    choice = None
    if args.interim:
        judges, rows = _interim(kinds, refusals, args)
        labels, key = None, "on_refusals"
        trained_on = {"labels": None, "note": "no training: label-free candidate (default thresholds / zero-shot)"}
    else:
        judges, rows, choice, trained_on = _own(kinds, refusals, args)
        labels, key = args.labels, "held_out"
    earlier, rows = _merged(Path(args.out), rows, labels)
    choice = choice or _choose(rows, key)
    if args.interim:
        choice["why"] += "; interim: no own labels yet, scored on registry:refusals (binary) only"
    chosen = next(r for r in rows if r["kind"] == choice["kind"])
    result = {**earlier, "candidates": rows, "choice": choice, "labels": labels,
              "seconds": round(time.perf_counter() - started, 1), "machine": machine_info()}
    write_json(Path(args.out), result)
    print(_table(rows))
    for r in rows:
        if "selection" in r and "variants" in r["selection"]:
            best = max(r["selection"]["variants"], key=lambda v: v["k"])
            print(f"{r['kind']}: head {best['head']} C={best['c']} chosen by {r['selection']['folds']}-fold CV on "
                  f"train ({best['k']}/{r['selection']['n']} right)")
    if "held_out" in choice:
        _print_paired(choice["held_out"])
    print(f"choice: {choice['kind']} ({choice['why']}) -> {args.out}")
    if args.save and choice["kind"] not in judges:
        print(f"not saved: the choice {choice['kind']} comes from an earlier run in {args.out}; rerun with "
              f"--candidates {choice['kind']} --save {args.save} to write it")
    elif args.save:
        keys = ("held_out", "own_to_refusals", "refusals_to_own", "on_refusals", "cv")
        metrics = {k: chosen[k] for k in keys if k in chosen}
        save_judge(judges[choice["kind"]], args.save, trained_on=trained_on, metrics={**metrics, "choice": choice})
        print(f"saved {choice['kind']} judge -> {args.save}")


if __name__ == "__main__":
    main()
