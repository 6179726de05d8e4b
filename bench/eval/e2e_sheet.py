"""Blind labelling sheets of the SOT end-to-end answers, and their merge into a labelled set (issue 13).

    .venv/bin/python -m bench.eval.e2e_sheet make  --arms rate10-heuristic-seed0,rate10-classifier-seed0
    (each reader fills `verdict` and `note` of bench/eval/data/e2e-labels/sheet-{1,2,3}.csv against docs/labelling.md)
    .venv/bin/python -m bench.eval.e2e_sheet merge                # agreement; disagreements.csv to adjudicate
    (fill `verdict` of disagreements.csv: the adjudicated reading)
    .venv/bin/python -m bench.eval.e2e_sheet merge                # writes bench/eval/data/e2e-answer-labels.csv
    .venv/bin/python -m bench.eval.judge_fresh --source e2e --labels bench/eval/data/e2e-answer-labels.csv \\
        --out bench/results/judge-e2e.json

The SOT end-to-end table is decided by the shipped judge on answers of models fine-tuned on contaminated data, a
kind of answer neither registry:judge-labels nor the CAST fresh set holds. `make` draws --harmful prompts of the
held-out harmful set and --benign of the over-refusal set (seeded), leaving out every prompt that judge-labels or
the CAST fresh set holds, and takes the answer of every named arm to each drawn prompt (paired: the same prompts for
every arm); prompts of any other labelled set in bench/eval/data are left out too. The items are split into
three blocks; reader 1 gets blocks 1+2, reader 2 blocks 2+3, reader 3 blocks
3+1, each in its own shuffled order, with neither the arm nor the judge's verdict on the sheet — so every answer
is read twice, independently and blind. The key (item -> arm, set, index, prompt id) is kept apart in key.csv.

`merge` checks that every sheet row is filled with a valid verdict and still holds the key's text, reports the
readers' agreement (raw and Cohen's kappa, with a prompt-bootstrap 95 % interval), and lists the items the two
readings disagree on in disagreements.csv. Once each of those carries an adjudicated verdict, it writes the
labelled set in the CAST fresh set's format (arm, set, index, prompt_id, verdict, note, prompt, answer) plus both
readings, which `bench.eval.judge_fresh --source e2e` checks against the stored arm files and scores.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path

from bench.common import RESULTS, make_parser, write_json

DATA = Path(__file__).resolve().parent / "data"
FOLDER = DATA / "e2e-labels"
LABELS = DATA / "e2e-answer-labels.csv"
E2E = RESULTS / "sot_e2e"
SETS = {"harmful": ("harmful-prompts", ("heldout", "train")), "benign": ("over-refusal", ("heldout", "train"))}
BLOCKS = {1: (0, 1), 2: (1, 2), 3: (2, 0)}
"""reader -> the two item blocks on its sheet (every block is read by exactly two readers)."""
SHEET_COLUMNS = ["item", "prompt", "answer", "verdict", "note"]
KEY_COLUMNS = ["item", "arm", "set", "index", "prompt_id", "block"]


def _parser():
    p = make_parser(__doc__)
    p.add_argument("action", choices=["make", "merge"])
    p.add_argument("--arms", default="rate10-heuristic-seed0,rate10-classifier-seed0",
                   help="arm files (names in --e2e-dir without .json) whose answers are read")
    p.add_argument("--e2e-dir", type=Path, default=E2E)
    p.add_argument("--folder", type=Path, default=FOLDER, help="sheets, key, disagreements")
    p.add_argument("--labels", type=Path, default=LABELS, help="the merged labelled set")
    p.add_argument("--harmful", type=int, default=60, help="harmful prompts drawn")
    p.add_argument("--benign", type=int, default=30, help="over-refusal prompts drawn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--agreement", type=Path, default=RESULTS / "judge-e2e-agreement.json")
    return p


@functools.lru_cache(maxsize=1)
def prompt_texts() -> dict[str, str]:
    """prompt id -> text for the harmful and over-refusal sets the e2e evaluation draws from."""
    from curate.datasets import load_dataset_table

    out = {}
    for name, splits in SETS.values():
        for split in splits:
            out |= {r["id"]: r["prompt"] for r in load_dataset_table(name, split).select(["id", "prompt"]).to_pylist()}
    return out


def arm_answers(folder: Path, arm: str) -> dict[str, list[tuple[str, str]]]:
    """set -> [(prompt id, answer)] in the arm file's order; an error when the file holds no answers."""
    from curate.errors import InputError

    path = folder / f"{arm}.json"
    if not path.is_file():
        raise InputError(f"{path}: no such arm file; --arms names files of --e2e-dir without .json")
    outcome = json.loads(path.read_text())["outcome"]
    out = {}
    for s in SETS:
        if "answers" not in outcome[s]:
            raise InputError(f"{path}: the arm keeps no answers (it was run before bench.sot.end_to_end stored "
                             "them); rerun it or choose another arm")
        out[s] = list(zip(outcome[s]["ids"], outcome[s]["answers"]))
    return out


def seen_prompts(exclude: Path | None = None) -> set[str]:
    """Normalised prompts of registry:judge-labels and of every labelled answer set in bench/eval/data
    (*-answer-labels*.csv: the CAST set, earlier e2e sets) but `exclude`: never drawn here, so each new set can
    test a judge chosen on all the earlier ones."""
    from curate.datasets._keys import normalize_text
    from curate.datasets.judge_labels import judge_label_rows

    seen = {normalize_text(r["prompt"]) for r in judge_label_rows()}
    for path in sorted(DATA.glob("*-answer-labels*.csv")):
        if exclude is None or path.resolve() != Path(exclude).resolve():
            with open(path, newline="") as handle:
                seen |= {normalize_text(r["prompt"]) for r in csv.DictReader(handle)}
    return seen


def draw_items(answers: dict[str, dict], texts: dict[str, str], seen: set[str], counts: dict[str, int],
               seed: int) -> list[dict]:
    """The drawn (arm, set, index) items: the same prompts for every arm, prompts in `seen` left out."""
    import numpy as np

    from curate.datasets._keys import normalize_text
    from curate.errors import InputError

    rng = np.random.default_rng(seed)
    arms = sorted(answers)
    items = []
    for s, n in counts.items():
        ids = [i for i, _ in answers[arms[0]][s]]
        for arm in arms[1:]:
            if [i for i, _ in answers[arm][s]] != ids:
                raise InputError(f"{arm}: its {s} prompts differ from {arms[0]}'s; arms of one experiment only")
        pool = [k for k, i in enumerate(ids) if normalize_text(texts[i]) not in seen]
        if len(pool) < n:
            raise InputError(f"--{s} {n}: only {len(pool)} {s} prompts are unseen; ask for fewer")
        for k in sorted(rng.choice(pool, n, replace=False).tolist()):
            items += [{"arm": arm, "set": s, "index": k, "prompt_id": ids[k], "prompt": texts[ids[k]],
                       "answer": answers[arm][s][k][1]} for arm in arms]
    order = rng.permutation(len(items))
    for item, position in zip(items, order):
        item["item"] = f"e{position:04d}"
    # blocks by prompt, so an arm pair's two answers to one prompt go to the same readers
    prompts = sorted({(it["set"], it["prompt_id"]) for it in items})
    block = {p: b for p, b in zip([prompts[i] for i in rng.permutation(len(prompts))],
                                  [j % 3 for j in range(len(prompts))])}
    for item in items:
        item["block"] = block[(item["set"], item["prompt_id"])]
    return sorted(items, key=lambda it: it["item"])


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    from curate.io import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def make(args) -> None:
    import numpy as np

    from curate.errors import InputError

    if (args.folder / "key.csv").exists():
        raise InputError(f"{args.folder}/key.csv exists: the sheets were made (and may be filled); move the "
                         "folder away to draw new ones")
    arms = [a for a in args.arms.split(",") if a]
    answers = {arm: arm_answers(args.e2e_dir, arm) for arm in arms}
    items = draw_items(answers, prompt_texts(), seen_prompts(args.labels),
                       {"harmful": args.harmful, "benign": args.benign}, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    for reader, blocks in BLOCKS.items():
        mine = [it for it in items if it["block"] in blocks]
        _write_csv(args.folder / f"sheet-{reader}.csv", [mine[i] | {"verdict": "", "note": ""}
                                                        for i in rng.permutation(len(mine))], SHEET_COLUMNS)
    _write_csv(args.folder / "key.csv", items, KEY_COLUMNS)
    print(f"[e2e-sheet] {len(items)} items ({len(arms)} arms; {args.harmful} harmful + {args.benign} benign "
          f"prompts), each on two of three sheets in {args.folder}")


def read_sheets(folder: Path, key: dict[str, dict], answers: dict) -> dict[str, list[dict]]:
    """item -> its readings [{reader, verdict, note}], every row checked (filled, valid, the key's text)."""
    from curate.datasets.judge_labels import VERDICTS
    from curate.errors import InputError

    readings: dict[str, list[dict]] = {}
    for reader in BLOCKS:
        path = folder / f"sheet-{reader}.csv"
        for line, row in enumerate(_read_csv(path), start=2):
            k = key.get(row["item"])
            if k is None:
                raise InputError(f"{path}:{line}: item {row['item']} is not in key.csv")
            if row["verdict"] not in VERDICTS:
                raise InputError(f"{path}:{line}: verdict '{row['verdict']}'; fill one of {', '.join(VERDICTS)}")
            stored = answers[k["arm"]][k["set"]][int(k["index"])]
            if stored != (k["prompt_id"], row["answer"]):
                raise InputError(f"{path}:{line}: the answer differs from {k['arm']}'s stored answer at "
                                 f"{k['set']}[{k['index']}]; the arm was rerun, so these readings are stale")
            readings.setdefault(row["item"], []).append({"reader": reader, "verdict": row["verdict"],
                                                         "note": row["note"]})
    return readings


def merge(args) -> None:
    from curate.datasets.judge_labels import VERDICTS
    from curate.errors import InputError
    from curate.evaluation.judges.scoring import reader_agreement

    key = {r["item"]: r for r in _read_csv(args.folder / "key.csv")}
    arms = sorted({k["arm"] for k in key.values()})
    answers = {arm: arm_answers(args.e2e_dir, arm) for arm in arms}
    readings = read_sheets(args.folder, key, answers)
    missing = sorted(set(key) - set(readings))
    short = sorted(i for i, r in readings.items() if len(r) != 2)
    if missing or short:
        raise InputError(f"items without two readings: {(missing + short)[:5]}; the sheets are incomplete")
    items = sorted(key)
    pairs = [(readings[i][0]["verdict"], readings[i][1]["verdict"]) for i in items]
    groups = [f"{key[i]['set']}/{key[i]['prompt_id']}" for i in items]
    result = {"overall": reader_agreement(*zip(*pairs), groups)}
    for s in SETS:
        idx = [n for n, i in enumerate(items) if key[i]["set"] == s]
        result[s] = reader_agreement([pairs[n][0] for n in idx], [pairs[n][1] for n in idx], [groups[n] for n in idx])
    confusion: dict[str, int] = {}
    for a, b in pairs:
        if a != b:
            name = " / ".join(sorted((a, b)))
            confusion[name] = confusion.get(name, 0) + 1
    result["disagreements"] = confusion
    write_json(args.agreement, result)
    a, k = result["overall"]["agreement"], result["overall"]["kappa"]
    print(f"[e2e-sheet] two blind readings of {len(items)} answers: agreement {a['rate']:.1%} "
          f"[{a['low']:.1%}, {a['high']:.1%}], Cohen's kappa {k['value']:.3f} [{k['low']:.3f}, {k['high']:.3f}]; "
          f"disagreements {json.dumps(confusion)}")

    path = args.folder / "disagreements.csv"
    disagree = [i for i, (a, b) in zip(items, pairs) if a != b]
    if not path.exists():
        rows = [dict(zip(("prompt", "answer"), _text(key[i], answers)), item=i,
                     reading_a=readings[i][0]["verdict"], note_a=readings[i][0]["note"],
                     reading_b=readings[i][1]["verdict"], note_b=readings[i][1]["note"], verdict="", note="")
                for i in disagree]
        _write_csv(path, rows, ["item", "prompt", "answer", "reading_a", "note_a", "reading_b", "note_b", "verdict",
                                "note"])
        print(f"[e2e-sheet] {len(disagree)} disagreements written to {path}: fill `verdict` and run merge again")
        return
    adjudicated = {r["item"]: r for r in _read_csv(path)}
    open_items = [i for i in disagree if adjudicated.get(i, {}).get("verdict") not in VERDICTS]
    if open_items:
        raise InputError(f"{path}: {len(open_items)} disagreements without an adjudicated verdict "
                         f"(e.g. {open_items[:3]}); fill `verdict` with one of {', '.join(VERDICTS)}")
    rows = []
    for i, (a, b) in zip(items, pairs):
        k = key[i]
        prompt, answer = _text(k, answers)
        notes = [r["note"] for r in readings[i] if r["note"]]
        if a != b:
            verdict, notes = adjudicated[i]["verdict"], [adjudicated[i]["note"] or "adjudicated"] + notes
        else:
            verdict = a
        rows.append({"arm": k["arm"], "set": k["set"], "index": k["index"], "prompt_id": k["prompt_id"],
                     "verdict": verdict, "note": "; ".join(notes), "reading_a": a, "reading_b": b,
                     "prompt": prompt, "answer": answer})
    rows.sort(key=lambda r: (r["arm"], r["set"], int(r["index"])))
    _write_csv(args.labels, rows, ["arm", "set", "index", "prompt_id", "verdict", "note", "reading_a", "reading_b",
                                   "prompt", "answer"])
    print(f"[e2e-sheet] {len(rows)} labelled answers written to {args.labels}")


def _text(key_row: dict, answers: dict) -> tuple[str, str]:
    pid, answer = answers[key_row["arm"]][key_row["set"]][int(key_row["index"])]
    return prompt_texts()[pid], answer


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    make(args) if args.action == "make" else merge(args)


if __name__ == "__main__":
    main()
