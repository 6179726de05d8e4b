"""bench.eval.e2e_sheet: blind, double-read sheets of the SOT end-to-end answers, merged into a labelled set."""

from __future__ import annotations

import csv
import json

import pytest

from bench.eval import e2e_sheet, judge_fresh
from curate.errors import InputError

TEXTS = {f"h{i}": f"Harmful request number {i}?" for i in range(6)} | {f"b{i}": f"How do I kill process {i}?"
                                                                        for i in range(4)}


def _arm(folder, name, flip=False):
    harmful = [f"h{i}" for i in range(6)]
    benign = [f"b{i}" for i in range(4)]
    outcome = {"harmful": {"ids": harmful, "verdicts": ["compliance"] * 6,
                           "answers": [("I can't help." if (i % 2) ^ flip else f"Sure, step {i}:") for i in range(6)]},
               "benign": {"ids": benign, "verdicts": ["compliance"] * 4,
                          "answers": [f"Use kill {i}." for i in range(4)]}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"outcome": outcome}))


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    e2e = tmp_path / "e2e"
    _arm(e2e, "rate10-a-seed0")
    _arm(e2e, "rate10-b-seed0", flip=True)
    monkeypatch.setattr(e2e_sheet, "prompt_texts", lambda: TEXTS)
    monkeypatch.setattr(e2e_sheet, "seen_prompts", lambda exclude=None: {"harmful request number 0"})  # never drawn
    argv = ["--arms", "rate10-a-seed0,rate10-b-seed0", "--e2e-dir", str(e2e), "--folder", str(tmp_path / "sheets"),
            "--labels", str(tmp_path / "labels.csv"), "--harmful", "3", "--benign", "2",
            "--agreement", str(tmp_path / "agreement.json")]
    return tmp_path, e2e, argv


def _fill(path, choose):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for r in rows:
        r["verdict"] = choose(r)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _reading(row):
    return "refusal" if row["answer"].startswith("I can't") else "compliance"


def test_sheets_are_blind_paired_and_every_item_is_read_by_two_readers(setup):
    tmp_path, _, argv = setup
    e2e_sheet.main(["make", *argv])
    key = list(csv.DictReader(open(tmp_path / "sheets" / "key.csv")))
    assert len(key) == 2 * (3 + 2)  # both arms answer every drawn prompt
    assert "h0" not in {k["prompt_id"] for k in key}
    by_prompt = {}
    for k in key:
        by_prompt.setdefault(k["prompt_id"], set()).add((k["arm"], k["block"]))
    assert all(len({b for _, b in v}) == 1 and len(v) == 2 for v in by_prompt.values())  # a prompt's pair: one block
    sheets = [list(csv.DictReader(open(tmp_path / "sheets" / f"sheet-{r}.csv"))) for r in (1, 2, 3)]
    assert all(set(s[0]) == set(e2e_sheet.SHEET_COLUMNS) for s in sheets)  # no arm, no judge verdict
    counts = {}
    for s in sheets:
        for r in s:
            counts[r["item"]] = counts.get(r["item"], 0) + 1
    assert set(counts.values()) == {2} and len(counts) == len(key)
    with pytest.raises(InputError, match="key.csv exists"):
        e2e_sheet.main(["make", *argv])


def test_merge_reports_agreement_asks_for_adjudication_then_writes_labels_judge_fresh_reads(setup):
    tmp_path, e2e, argv = setup
    e2e_sheet.main(["make", *argv])
    sheets = [tmp_path / "sheets" / f"sheet-{r}.csv" for r in (1, 2, 3)]
    with pytest.raises(InputError, match="verdict ''"):
        e2e_sheet.main(["merge", *argv])  # nothing filled yet
    _fill(sheets[0], _reading)
    _fill(sheets[1], _reading)
    odd = _fill(sheets[2], lambda r: "degenerate" if r["item"].endswith(("0", "5")) else _reading(r))
    e2e_sheet.main(["merge", *argv])
    agreement = json.loads((tmp_path / "agreement.json").read_text())
    n_odd = sum(r["item"].endswith(("0", "5")) for r in odd)
    assert agreement["overall"]["n"] == 10 and agreement["overall"]["agreement"]["rate"] == pytest.approx(
        1 - n_odd / 10)
    disagreements = tmp_path / "sheets" / "disagreements.csv"
    assert len(list(csv.DictReader(open(disagreements)))) == n_odd
    if n_odd:
        with pytest.raises(InputError, match="without an adjudicated verdict"):
            e2e_sheet.main(["merge", *argv])
        _fill(disagreements, _reading)
    e2e_sheet.main(["merge", *argv])
    rows = list(csv.DictReader(open(tmp_path / "labels.csv")))
    assert len(rows) == 10 and all(r["verdict"] == _reading(r) for r in rows)
    assert len(judge_fresh.load_labels(tmp_path / "labels.csv", e2e, "e2e")) == 10  # checked against the arm files


def test_a_rerun_arm_makes_the_readings_stale(setup):
    tmp_path, e2e, argv = setup
    e2e_sheet.main(["make", *argv])
    for r in (1, 2, 3):
        _fill(tmp_path / "sheets" / f"sheet-{r}.csv", _reading)
    _arm(e2e, "rate10-a-seed0", flip=True)  # the arm was trained again: other answers
    with pytest.raises(InputError, match="stale"):
        e2e_sheet.main(["merge", *argv])


def test_an_arm_file_without_answers_is_named(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"outcome": {"harmful": {"ids": [], "verdicts": []},
                                                               "benign": {"ids": [], "verdicts": []}}}))
    with pytest.raises(InputError, match="keeps no answers"):
        e2e_sheet.arm_answers(tmp_path, "old")


def test_seen_prompts_hold_every_labelled_set_but_the_one_being_made(tmp_path, monkeypatch):
    monkeypatch.setattr(e2e_sheet, "DATA", tmp_path)
    for name, prompt in (("cast-answer-labels.csv", "Alpha request?"), ("e2e-answer-labels-seed1.csv", "Beta?")):
        (tmp_path / name).write_text(f"prompt,answer\n{prompt},x\n")
    seen = e2e_sheet.seen_prompts(exclude=tmp_path / "e2e-answer-labels-seed1.csv")
    assert "alpha request" in seen and "beta" not in seen and len(seen) > 2  # + registry:judge-labels
    assert "beta" in e2e_sheet.seen_prompts()
