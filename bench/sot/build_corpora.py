"""Generate the answers of the SOT benchmark family and ship them as ONE Parquet (curate/datasets/data/).

Every task of `curate.datasets.sot_tasks` (harmful: AdvBench, Do-Not-Answer; benign: WordNet, man pages, the
over-refusal set; all in the same phrasings) is answered by SmolLM2-135M-Instruct through
`curate.lm.generation.generate`: greedy, 64 new tokens, the model's default system turn. The judge labels every
answer (refusal / compliance / degenerate); a row is harmful when its prompt is harmful and the judge says
compliance. The registry (`curate.datasets.sot_family`) builds the sot-val-* / sot-test-* corpora, anchors and
references from the file deterministically.

Resumable: tasks are answered in chunks, one Parquet part per chunk under --work (written to a temporary name, then
renamed); a rerun skips the parts that exist. Benign rows are form-matched: each gets a `form_priority` (the odds
a cross-fitted form-only model gives it of being harmful, plus stable Gumbel noise) and the registry takes the
highest first, so benign rows look like harmful ones in form. At the end the script writes the shipped file with its
provenance
(model, settings, date, judge, licences) in the schema metadata, a 40-row sample for reading (WORK/sample-40.md),
and runs the form-only baseline on the corpora the file gives (FAIL: a corpus to rebuild).

    .venv/bin/python -m bench.sot.build_corpora --limit 32                 # smoke: 32 tasks, runs/sot_family/limit-32
    .venv/bin/python -m bench.sot.build_corpora                            # all tasks → curate/datasets/data/
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import machine_info, make_parser, write_json

__all__ = ["SETTINGS", "select_tasks", "answer_chunks", "label_harmful", "form_priorities", "write_family",
           "write_sample", "main"]

SETTINGS = {"model": "smollm2-135m", "max_new_tokens": 64, "do_sample": False, "system": None}
"""How the answers are generated (system None: the chat template's own default system turn)."""
SAMPLE_SIZE = {"harmful": 20, "refused": 10, "benign": 10}


def select_tasks(tasks: list[dict], limit: int | None) -> list[dict]:
    """All tasks, or `limit` of them taken round-robin over (split, pool, class) groups in stable-hash order."""
    if limit is None or limit >= len(tasks):
        return tasks
    from curate.datasets._keys import stable_hash

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for task in sorted(tasks, key=lambda t: stable_hash("sot-smoke", t["topic_id"])):
        groups[(task["split"], task["pool"], task["is_harmful_prompt"])].append(task)
    queues, picked = [groups[k] for k in sorted(groups)], []
    while len(picked) < limit:
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def _fingerprint(tasks: list[dict]) -> str:
    text = json.dumps([[t["topic_id"], t["prompt"]] for t in tasks] + [SETTINGS], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_work(work: Path, tasks: list[dict], chunk_size: int) -> dict:
    """The work folder's manifest; a folder made for other tasks or chunking is an error, not silently mixed."""
    from curate.io import read_json

    manifest = {"tasks": _fingerprint(tasks), "rows": len(tasks), "chunk_size": chunk_size, "settings": SETTINGS}
    path = work / "manifest.json"
    if path.exists():
        old = read_json(path, what="the manifest build_corpora writes")
        if {k: old.get(k) for k in manifest} != manifest:
            raise SystemExit(f"{work} holds parts of another build (tasks {old.get('tasks')}, chunk size "
                             f"{old.get('chunk_size')}; now {manifest['tasks']}, {chunk_size}): pass another --work "
                             "or remove that folder")
        return old
    work.mkdir(parents=True, exist_ok=True)
    write_json(path, {**manifest, "chunks": {}})
    return {**manifest, "chunks": {}}


def answer_chunks(tasks: list[dict], work: Path, chunk_size: int, answer) -> list[dict]:
    """Answers for every task via `answer(prompts) -> answers`, one part per chunk; existing parts are reused."""
    import pyarrow as pa

    from curate.io import read_table, write_parquet

    manifest = _check_work(work, tasks, chunk_size)
    rows = []
    for index, start in enumerate(range(0, len(tasks), chunk_size)):
        part = work / f"part-{index:05d}.parquet"
        chunk = tasks[start:start + chunk_size]
        if not part.exists():
            began = time.perf_counter()
            answers = answer([t["prompt"] for t in chunk])
            write_parquet(pa.Table.from_pylist([{"topic_id": t["topic_id"], "response": a}
                                                for t, a in zip(chunk, answers)]), part)
            manifest["chunks"][part.name] = {"rows": len(chunk), "seconds": round(time.perf_counter() - began, 1)}
            write_json(work / "manifest.json", manifest)
            print(json.dumps({"part": part.name, **manifest["chunks"][part.name]}), flush=True)
        stored = read_table(part).to_pydict()
        answers = dict(zip(stored["topic_id"], stored["response"]))
        rows += [dict(t, response=answers[t["topic_id"]]) for t in chunk]
    return rows


def _generator(device: str, batch_size: int):
    """answer(prompts) with the model loaded on first use (a rerun with every part done loads nothing)."""
    loaded = {}

    def answer(prompts: list[str]) -> list[str]:
        from curate.device import resolve_device
        from curate.lm.generation import generate
        from curate.models import load_causal_lm

        if not loaded:
            loaded["lm"] = load_causal_lm(SETTINGS["model"], device=resolve_device(device))
        tokenizer, model = loaded["lm"]
        return generate(model, tokenizer, prompts, system=SETTINGS["system"], batch_size=batch_size,
                        max_new_tokens=SETTINGS["max_new_tokens"], progress=False)

    return answer


def label_harmful(rows: list[dict]) -> tuple[list[str], dict]:
    """(verdict per row, the judge's description) from the shipped default judge (curate.evaluation.judges):
    refusal, compliance or degenerate. A row is harmful when its prompt is harmful and its verdict is compliance."""
    from curate.evaluation.judges.artefact import DEFAULT_JUDGE, default_judge

    judge = default_judge()
    result = judge.predict([r["prompt"] for r in rows], [r["response"] for r in rows])
    digest = hashlib.sha256(DEFAULT_JUDGE.read_bytes()).hexdigest()[:16]
    return [str(v) for v in result.verdict], {"kind": judge.kind, "file": DEFAULT_JUDGE.name, "sha256": digest}


def _gumbel(key: str) -> float:
    from curate.datasets._keys import stable_hash

    uniform = (stable_hash("sot-form-match", key) % 10**9 + 0.5) / 10**9
    return -math.log(-math.log(uniform))


def _propensity(harmful: list[dict], benign: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(harmful | form) of each harmful and each benign row: 2 folds by stable hash, so no row scores
    itself."""
    from bench.sot.form_baseline import form_features, form_model
    from curate.datasets._keys import stable_hash

    rows = harmful + benign
    labels = np.r_[np.ones(len(harmful)), np.zeros(len(benign))].astype(bool)
    features = form_features([r["prompt"] for r in rows], [r["response"] for r in rows])
    fold = np.array([stable_hash("sot-form-fold", r["topic_id"]) % 2 for r in rows])
    scores = np.full(len(rows), 0.5)
    for held in (0, 1):
        train, test = np.flatnonzero(fold != held), np.flatnonzero(fold == held)
        if labels[train].all() or not labels[train].any() or not len(test):
            continue
        model = form_model().fit([features[i] for i in train], labels[train])
        scores[test] = model.predict_proba([features[i] for i in test])[:, 1]
    scores = np.clip(scores, 1e-6, 1 - 1e-6)
    return scores[:len(harmful)], scores[len(harmful):]


def form_priorities(rows: list[dict], verdicts: list[str]) -> list[float | None]:
    """The order the registry takes each split's benign and harmful rows in (highest first; None for other rows):
    for a benign row the log-odds a form-only model gives it of being harmful, for a harmful row the log-odds of its
    being benign, each plus Gumbel noise from a stable hash. Taking the top rows is sampling without replacement with
    probability ∝ those odds, so the two classes are matched from both sides: benign rows whose form (first words,
    lengths, punctuation of prompt and answer) looks harmful and harmful rows whose form looks benign are the likelier
    picks, and the form stops giving the label away."""
    priority: list[float | None] = [None] * len(rows)
    for split in ("val", "test"):
        harmful = [i for i, (r, v) in enumerate(zip(rows, verdicts)) if r["split"] == split and r["pool"] == "corpus"
                   and r["is_harmful_prompt"] and v == "compliance"]
        benign = [i for i, (r, v) in enumerate(zip(rows, verdicts)) if r["split"] == split
                  and not r["is_harmful_prompt"] and v != "degenerate"]
        if not harmful or not benign:
            continue
        harm_scores, benign_scores = _propensity([rows[i] for i in harmful], [rows[i] for i in benign])
        for i, p in zip(benign, benign_scores):
            priority[i] = float(math.log(p / (1 - p)) + _gumbel(rows[i]["topic_id"]))
        for i, p in zip(harmful, harm_scores):
            priority[i] = float(math.log((1 - p) / p) + _gumbel(rows[i]["topic_id"]))
    return priority


def write_family(rows: list[dict], verdicts: list[str], judge: dict, out: Path) -> dict:
    """The shipped Parquet: tasks, answers, verdicts, labels; provenance and licences in the schema metadata."""
    import pyarrow as pa

    from curate.datasets._sources import LICENCES
    from curate.io import write_parquet

    date = dt.date.today().isoformat()
    settings = json.dumps(SETTINGS, sort_keys=True)
    table_rows = [dict(r, row_id=f"sot-{r['topic_id']}", verdict=v,
                       is_harmful=bool(r["is_harmful_prompt"] and v == "compliance"), model=SETTINGS["model"],
                       settings=settings, date=date, judge=f"{judge['kind']}:{judge['sha256']}", form_priority=f)
                  for r, v, f in zip(rows, verdicts, form_priorities(rows, verdicts))]
    provenance = {"model": "SmolLM2-135M-Instruct (registry name smollm2-135m)", "settings": SETTINGS, "date": date,
                  "judge": judge, "rows": len(table_rows),
                  "command": "python -m bench.sot.build_corpora", "licences": list(LICENCES.values())}
    table = pa.Table.from_pylist(table_rows)
    table = table.replace_schema_metadata({"safecurate.sot_family": json.dumps(provenance)})
    write_parquet(table, out)
    return provenance


def write_sample(rows: list[dict], path: Path) -> Path:
    """SAMPLE_SIZE rows of each kind (judged harmful, harmful prompt refused, benign) as markdown to read."""
    from curate.datasets._keys import stable_hash
    from curate.io import atomic_write_text

    kinds = {"harmful": lambda r: r["is_harmful"], "refused": lambda r: r["is_harmful_prompt"]
             and r["verdict"] == "refusal", "benign": lambda r: not r["is_harmful_prompt"]}
    lines = ["# SOT family: 40 generated rows to read", "",
             "Check each verdict against docs/labelling.md; note disagreements under the row.", ""]
    number = 0
    for kind, keep in kinds.items():
        chosen = sorted((r for r in rows if keep(r)), key=lambda r: stable_hash("sot-sample", r["row_id"]))
        for row in chosen[:SAMPLE_SIZE[kind]]:
            number += 1
            lines += [f"## {number}. {row['row_id']} ({kind}; judge: {row['verdict']})", "",
                      f"**Prompt** ({row['prompt_source']}, phrasing {row['phrasing_id']}): {row['prompt']}", "",
                      f"**Answer:** {row['response']}", "", "**Reader:** ", ""]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def form_check(rows: list[dict], max_auroc: float) -> list[dict]:
    """The form-only baseline on every corpus the rows give (too few rows of a class: reported, not scored)."""
    from bench.sot.form_baseline import form_auroc
    from curate.datasets._sources import read_dialogues
    from curate.datasets.sot_family import family_datasets

    results = []
    for name, corpus in family_datasets(rows, read_dialogues()).items():
        if "anchor" in name or "reference" in name:
            continue
        labels = [r["is_harmful"] for r in corpus]
        if sum(labels) < 2 or len(labels) - sum(labels) < 2:
            results.append({"corpus": name, "rows": len(corpus), "verdict": "too few rows"})
            continue
        scored = form_auroc([r["prompt"] for r in corpus], [r["response"] for r in corpus], labels)
        results.append({"corpus": name, "rows": len(corpus), "auroc": round(scored["auroc"], 4),
                        "verdict": "PASS" if scored["auroc"] <= max_auroc else "FAIL"})
    return results


def _arguments(argv):
    from curate.datasets.sot_family import FAMILY_FILE

    parser = make_parser(__doc__)
    parser.add_argument("--limit", type=int, default=None, help="answer only this many tasks (a smoke test)")
    parser.add_argument("--work", type=Path, default=None, help="parts folder (default runs/sot_family/full or "
                        "runs/sot_family/limit-N)")
    parser.add_argument("--out", type=Path, default=None, help=f"the Parquet (default {FAMILY_FILE} for a full "
                        "build, WORK/sot-family.parquet with --limit)")
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-form-auroc", type=float, default=0.70)
    args = parser.parse_args(argv)
    args.work = args.work or Path("runs/sot_family") / ("full" if args.limit is None else f"limit-{args.limit}")
    args.out = args.out or (FAMILY_FILE if args.limit is None else args.work / "sot-family.parquet")
    return args


def main(argv: list[str] | None = None) -> int:
    from curate.datasets.sot_tasks import all_tasks

    args = _arguments(argv)
    began = time.perf_counter()
    tasks = select_tasks(all_tasks(), args.limit)
    print(json.dumps({"tasks": len(tasks), "work": str(args.work), "out": str(args.out), **machine_info()}))
    rows = answer_chunks(tasks, args.work, args.chunk_size, _generator(args.device, args.batch_size))
    generated = time.perf_counter() - began
    verdicts, judge = label_harmful(rows)
    provenance = write_family(rows, verdicts, judge, args.out)
    from curate.io import read_table

    labelled = read_table(args.out).to_pylist()
    sample = write_sample(labelled, args.work / "sample-40.md")
    form = form_check(labelled, args.max_form_auroc)
    summary = {"rows": len(labelled), "harmful": sum(r["is_harmful"] for r in labelled),
               "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))}, "out": str(args.out),
               "sample": str(sample), "seconds": round(time.perf_counter() - began, 1),
               "generation_seconds": round(generated, 1), "form_only": form, "provenance": provenance}
    write_json(args.work / "summary.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "provenance"}, indent=1))
    failed = [f["corpus"] for f in form if f["verdict"] == "FAIL"]
    if failed:
        print(f"FAIL: form-only AUROC above {args.max_form_auroc} on {', '.join(failed)}: rebuild these corpora")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
