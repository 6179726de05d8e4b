"""Deterministic, disjoint partitions of the source rows (by stable hash of a grouping key)."""

from __future__ import annotations

from collections import defaultdict

from curate.datasets._keys import normalize_text, stable_hash

__all__ = ["ordered_groups", "split_harmful", "split_dialogues", "split_benign", "HELDOUT_PERCENT", "BENIGN_SIZES"]

HELDOUT_PERCENT = 20  # of harmful prompts, eval only
BENIGN_SIZES = {"heldout": 1000, "corpus": 3800}  # the rest of benign-qa is the anchor partition
REFERENCE_DIALOGUES = 200


def ordered_groups(rows: list[dict], key, salt: str) -> list[list[dict]]:
    """Rows grouped by key(row), groups in stable-hash order (identical rows/prompts never straddle partitions)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return [groups[k] for k in sorted(groups, key=lambda k: (stable_hash(salt, k), k))]


def split_harmful(rows: list[dict], forced_train: set[str]) -> dict[str, str]:
    """id -> "train"|"heldout"; prompts whose text is in forced_train (used in a training corpus) stay train."""
    splits = {}
    for group in ordered_groups(rows, lambda r: normalize_text(r["prompt"]), "harmful-split"):
        text = normalize_text(group[0]["prompt"])
        heldout = text not in forced_train and stable_hash("harmful-heldout", text) % 100 < HELDOUT_PERCENT
        for row in group:
            splits[row["id"]] = "heldout" if heldout else "train"
    return splits


def split_dialogues(rows: list[dict]) -> dict[str, str]:
    """id -> "reference"|"contaminated": the first ~200 rows (by prompt-group hash) are the reference half."""
    halves, taken = {}, 0
    for group in ordered_groups(rows, lambda r: normalize_text(r["prompt"]), "dialogue-half"):
        half = "reference" if taken < REFERENCE_DIALOGUES else "contaminated"
        taken += len(group) if half == "reference" else 0
        for row in group:
            halves[row["id"]] = half
    return halves


def split_benign(rows: list[dict]) -> dict[str, str]:
    """id -> "heldout"|"corpus"|"anchor", filling heldout then corpus to BENIGN_SIZES by group."""
    partitions, filled = {}, {"heldout": 0, "corpus": 0}
    for group in ordered_groups(rows, lambda r: r["group"], "benign-partition"):
        part = next((p for p in ("heldout", "corpus") if filled[p] < BENIGN_SIZES[p]), "anchor")
        if part in filled:
            filled[part] += len(group)
        for row in group:
            partitions[row["id"]] = part
    return partitions
