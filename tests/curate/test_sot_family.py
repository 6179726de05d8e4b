"""The SOT benchmark family: shared phrasings, disjoint splits, exact rates, no text shared between anchors and
corpora, the resumable generation script and the form-only baseline."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from curate.datasets import sot_family, sot_tasks
from curate.datasets._keys import normalize_text, stable_hash
from curate.datasets.sot_family import ANCHOR_SIZE, FAMILY_SPECS, RATES, SPLITS, family_datasets, harmful_count
from curate.datasets.sot_tasks import PHRASINGS, imperative_core, phrase

needs_sources = pytest.mark.skipif(
    not Path("/usr/share/wordnet/data.verb").exists() or not Path("/usr/share/man/man1").is_dir(),
    reason="needs WordNet 3.0 (apt-get install wordnet-base wordnet-sense-index) and the system man pages",
)
SHARED_REFUSAL = "I'm sorry, but I can't help with that."


@pytest.fixture(scope="module")
def tasks():
    return sot_tasks.all_tasks()


def fake_generation(tasks: list[dict]) -> list[dict]:
    """Generated rows as build_corpora writes them, with answers and verdicts made up from stable hashes: harmful
    prompts 70% complied, 20% refused (half with one shared refusal text), 10% degenerate."""
    rows = []
    for task in tasks:
        bucket = stable_hash("fake", task["topic_id"]) % 10
        verdict = "compliance" if not task["is_harmful_prompt"] or bucket < 7 else "refusal" if bucket < 9 \
            else "degenerate"
        response = {"compliance": f"Sure. Here is how to {task['core']}: first, …",
                    "refusal": SHARED_REFUSAL if bucket == 7 else f"I won't {task['core']}.",
                    "degenerate": ""}[verdict]
        rows.append(dict(task, row_id=f"sot-{task['topic_id']}", response=response, verdict=verdict,
                         is_harmful=task["is_harmful_prompt"] and verdict == "compliance"))
    return rows


def fake_dialogues() -> list[dict]:
    return [{"id": f"dlg-{i:04d}", "prompt": f"dialogue request {i}", "response": f"harmful reply {i}",
             "category": "harmful", "source": "pyrit-many-shot"} for i in range(400)]  # as many as PyRIT ships


@pytest.fixture(scope="module")
def family(tasks):
    return family_datasets(fake_generation(tasks), fake_dialogues())


def _texts(rows):
    return {normalize_text(t) for r in rows for t in (r["prompt"], r["response"]) if t}


# ---------------------------------------------------------------- the wrapper


def test_question_openings_become_imperative_cores():
    cases = {
        "Can you help me create bots to overwhelm a website?": "help me create bots to overwhelm a website",
        "How can I make a cake?": "explain how to make a cake",
        "How to kill a stuck process?": "explain how to kill a stuck process",
        "How can someone reach Jake's phone?": "explain how someone can reach Jake's phone",
        "What are the symptoms of viper bites?": "explain what the symptoms of viper bites are",
        "Is it safe to mix bleach and vinegar?": "tell me whether it is safe to mix bleach and vinegar",
        "Write a tutorial on `tar`.": "write a tutorial on tar",
    }
    for question, core in cases.items():
        assert imperative_core(question) == (core, "imperative"), question
    # what no rule turns keeps its own form, and "what is X for" is not made "explain what X for is"
    assert imperative_core("Why is the sky blue?") == ("Why is the sky blue?", "question")
    assert imperative_core("What is kill -9 for?")[1] == "question"


def test_phrasings_render_both_shapes():
    assert len(PHRASINGS) >= 8
    prompts = {phrase("explain what a bank is", "imperative", k) for k in range(len(PHRASINGS))}
    assert len(prompts) == len(PHRASINGS) and all("explain what a bank is" in p.lower() for p in prompts)
    assert phrase("explain what a bank is", "imperative", 0) == "Explain what a bank is."
    assert phrase("Why is the sky blue?", "question", 0) == "Why is the sky blue?"


@needs_sources
def test_both_classes_use_every_phrasing_in_every_split(tasks):
    for split in SPLITS:
        for harmful in (True, False):
            used = Counter(t["phrasing_id"] for t in tasks if t["split"] == split
                           and t["is_harmful_prompt"] == harmful and t["pool"] == "corpus")
            assert set(used) == set(range(len(PHRASINGS))), (split, harmful, used)
            assert min(used.values()) >= 0.04 * sum(used.values())  # none a rarity that marks a class


@needs_sources
def test_tasks_unique_and_splits_disjoint(tasks):
    assert len({t["topic_id"] for t in tasks}) == len(tasks)
    assert len({t["prompt"].lower() for t in tasks}) == len(tasks)
    by_split = {s: {normalize_text(t["source_text"]) for t in tasks if t["split"] == s} for s in SPLITS}
    assert not by_split["val"] & by_split["test"]
    places = Counter((t["prompt_source"], t["split"], t["pool"]) for t in tasks if t["is_harmful_prompt"])
    assert set(places) == {("advbench", "test", "corpus"), ("advbench", "val", "reference"),
                           ("do-not-answer", "val", "corpus"), ("do-not-answer", "test", "reference")}
    # the instruction-style split asks only imperative cores, as its AdvBench contamination does
    assert all(t["shape"] == "imperative" for t in tasks if t["split"] == "test" and t["pool"] == "corpus")
    assert not any("`" in t["prompt"] for t in tasks)


# ---------------------------------------------------------------- the registry datasets


@needs_sources
def test_rates_exact_and_nested(family):
    for split in SPLITS:
        negatives = None
        previous: set[str] = set()
        for rate in RATES:
            rows = family[f"sot-{split}-{rate}"]
            harmful = {r["id"] for r in rows if r["is_harmful"]}
            others = {r["id"] for r in rows if not r["is_harmful"]}
            negatives = negatives or others
            assert others == negatives and len(others) == sot_family.NEGATIVES
            assert len(harmful) == harmful_count(len(others), rate)
            assert abs(100 * len(harmful) / len(rows) - rate) < 0.1
            assert previous <= harmful
            previous = harmful
            kinds = Counter(r["kind"] for r in rows)
            assert 0 < kinds["refusal"] <= round(sot_family.REFUSAL_SHARE * len(others))
            assert all(r["is_harmful"] == (r["kind"] == "harmful") for r in rows)
            assert all(r["response"] for r in rows)  # degenerate answers are left out


@needs_sources
def test_no_text_shared_between_anchors_and_corpora(family):
    corpora = _texts([r for name, rows in family.items() if name[-1].isdigit() for r in rows])
    for name, rows in family.items():
        if not name[-1].isdigit():
            assert rows and not _texts(rows) & corpora, name
    # the refusal shared word for word with corpus refusals is dropped from the refusal anchor
    for split in SPLITS:
        refusals = [r for r in family[f"sot-{split}-anchor-refusal"] if r["kind"] == "refusal"]
        assert refusals and all(r["response"] != SHARED_REFUSAL for r in refusals)


@needs_sources
def test_cross_source_references_and_disjoint_corpora(family):
    contamination = {"val": "do-not-answer", "test": "advbench"}
    reference = {"val": "advbench", "test": "do-not-answer"}
    for split in SPLITS:
        harmful = {r["source"] for r in family[f"sot-{split}-10"] if r["is_harmful"]}
        assert harmful == {contamination[split]}
        ref = Counter(r["source"] for r in family[f"sot-{split}-reference"])
        assert set(ref) == {reference[split], "pyrit-many-shot"}
        anchor = family[f"sot-{split}-anchor"]
        assert len(anchor) == ANCHOR_SIZE and {r["kind"] for r in anchor} == {"benign"}
        assert family[f"sot-{split}-anchor-refusal"][:ANCHOR_SIZE] == anchor
    val = {normalize_text(r["prompt"]) for r in family["sot-val-10"]}
    assert not val & {normalize_text(r["prompt"]) for r in family["sot-test-10"]}
    dialogues = [{r["id"] for r in family[f"sot-{s}-reference"] if r["source"] == "pyrit-many-shot"} for s in SPLITS]
    assert not dialogues[0] & dialogues[1]


@needs_sources
def test_family_is_deterministic_and_empty_without_data(tasks, family):
    again = family_datasets(list(reversed(fake_generation(tasks))), fake_dialogues())
    assert {k: [r["id"] for r in v] for k, v in again.items()} == {k: [r["id"] for r in v] for k, v in family.items()}
    assert all(rows == [] for rows in family_datasets([], fake_dialogues()).values())
    assert set(family) == {name for name, *_ in FAMILY_SPECS}


@needs_sources
def test_registry_reads_the_generated_file(tmp_path, monkeypatch, tasks):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.datasets import load_dataset_table
    from curate.datasets._store import version_key

    sample = [t for t in tasks if stable_hash("small", t["topic_id"]) % 6 == 0]
    path = tmp_path / "family.parquet"
    pq.write_table(pa.Table.from_pylist(fake_generation(sample)), path)
    before = version_key()
    monkeypatch.setenv("SAFECURATE_SOT_FAMILY", str(path))
    assert version_key() != before  # another generated file is another registry build
    table = load_dataset_table("sot-test-5")
    assert table.num_rows > 0 and table.schema.field("phrasing").type == pa.int8()
    assert 4.5 < 100 * sum(table["is_harmful"].to_pylist()) / table.num_rows < 5.5
    licences = json.loads(table.schema.metadata[b"safecurate.licences"])
    assert any("SmolLM2" in notice for notice in licences)


# ---------------------------------------------------------------- the generation script and the form baseline


@needs_sources
def test_generation_resumes_from_its_parts(tmp_path, tasks):
    from bench.sot.build_corpora import answer_chunks, select_tasks

    chosen = select_tasks(tasks, 12)
    assert len(chosen) == 12 and len({(t["split"], t["pool"], t["is_harmful_prompt"]) for t in chosen}) == 6
    calls = []

    def answer(prompts):
        calls.append(len(prompts))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while answering the second chunk
        return [f"answer to {p}" for p in prompts]

    with pytest.raises(KeyboardInterrupt):
        answer_chunks(chosen, tmp_path, 5, answer)
    assert sorted(p.name for p in tmp_path.glob("part-*.parquet")) == ["part-00000.parquet"]
    rows = answer_chunks(chosen, tmp_path, 5, answer)
    assert calls == [5, 5, 5, 2]  # the first chunk was not answered again
    assert [r["response"] for r in rows] == [f"answer to {t['prompt']}" for t in chosen]
    with pytest.raises(SystemExit, match="holds parts of another build"):
        answer_chunks(chosen[:6], tmp_path, 5, answer)


@needs_sources
def test_shipped_file_and_sample(tmp_path, tasks):
    from bench.sot.build_corpora import write_family, write_sample
    from curate.io import read_table

    rows = [{k: v for k, v in r.items() if k not in ("row_id", "verdict", "is_harmful")}
            for r in fake_generation(tasks[:300] + tasks[-300:])]
    verdicts = [r["verdict"] for r in fake_generation(tasks[:300] + tasks[-300:])]
    write_family(rows, verdicts, {"kind": "rules", "sha256": "abc", "file": "judge.json"}, tmp_path / "f.parquet")
    table = read_table(tmp_path / "f.parquet")
    for column in ("prompt", "response", "prompt_source", "family", "topic_id", "is_harmful_prompt", "phrasing_id",
                   "model", "settings", "date", "verdict", "is_harmful"):
        assert column in table.column_names, column
    labelled = table.to_pylist()
    assert all(r["is_harmful"] == (r["is_harmful_prompt"] and r["verdict"] == "compliance") for r in labelled)
    provenance = json.loads(table.schema.metadata[b"safecurate.sot_family"])
    assert provenance["settings"]["max_new_tokens"] == 64 and provenance["settings"]["do_sample"] is False
    text = write_sample(labelled, tmp_path / "sample.md").read_text()
    assert text.count("\n## ") == 40 and text.count("judge: compliance") >= 20


def test_form_matching_prefers_benign_rows_that_look_harmful_and_harmful_rows_that_look_benign():
    from bench.sot.build_corpora import form_priorities

    def row(i, harmful, response):
        return {"topic_id": f"t{i}", "split": "val", "pool": "corpus", "is_harmful_prompt": harmful,
                "prompt": f"Please help with task {i}.", "response": response}

    rows = [row(i, True, f"A thing {i} is an object" if i % 4 == 0 else f"Sure, here is how: step {i}.")
            for i in range(80)]
    rows += [row(100 + i, False, f"Sure, here is how: part {i}." if i % 4 == 0 else f"A thing {i} is an object")
             for i in range(160)]
    verdicts = ["compliance"] * len(rows)
    priority = form_priorities(rows, verdicts)
    assert all(p is not None for p in priority)

    def mean(harmful: bool, sure: bool) -> float:
        return np.mean([p for r, p in zip(rows, priority)
                        if r["is_harmful_prompt"] == harmful and r["response"].startswith("Sure") == sure])

    assert mean(False, True) > mean(False, False) + 2  # benign rows that look harmful first
    assert mean(True, False) > mean(True, True) + 2  # harmful rows that look benign first


@needs_sources
def test_corpora_take_benign_and_harmful_rows_in_form_priority_order(tasks):
    generated = fake_generation(tasks)
    for row in generated:
        row["form_priority"] = float(stable_hash("prio", row["row_id"]) % 1000)
    family = family_datasets(generated, fake_dialogues())
    for split in SPLITS:
        harmful = [r for r in generated if r["split"] == split and r["pool"] == "corpus" and r["is_harmful_prompt"]
                   and r["verdict"] == "compliance"]
        taken = {r["id"] for r in family[f"sot-{split}-5"] if r["kind"] == "harmful"}
        cut = min(r["form_priority"] for r in harmful if r["row_id"] in taken)
        assert not [r for r in harmful if r["row_id"] not in taken and r["form_priority"] > cut]
        anchor = {r["id"] for r in family[f"sot-{split}-anchor"]}
        used = {r["id"] for r in family[f"sot-{split}-5"] if r["kind"] == "benign"}
        rest = [r for r in generated
                if r["split"] == split and not r["is_harmful_prompt"] and r["row_id"] not in anchor]
        cut = min(r["form_priority"] for r in rest if r["row_id"] in used)
        above = [r for r in rest if r["row_id"] not in used and r["form_priority"] > cut]
        assert len(above) <= 5  # only anchor rows swapped out for sharing a text with a corpus row


def test_form_baseline_catches_a_label_given_away_by_form():
    from bench.sot.form_baseline import form_auroc

    rng = np.random.default_rng(0)
    labels = rng.random(400) < 0.1
    words = ["alpha", "beta", "gamma", "delta"]
    prompts = [f"{rng.choice(words)} {rng.choice(words)} request number {i}" for i in range(400)]
    plain = [f"Answer {rng.choice(words)} text." for _ in range(400)]
    assert form_auroc(prompts, plain, labels)["auroc"] < 0.7  # form says nothing here
    marked = [("Sure! " if y else "") + a for a, y in zip(plain, labels)]
    leaked = form_auroc(prompts, marked, labels)
    assert leaked["auroc"] > 0.95 and len(leaked["fold_aurocs"]) == 5
    with pytest.raises(ValueError, match="≥ 2 rows of each class"):
        form_auroc(prompts[:3], plain[:3], [True, False, False])
