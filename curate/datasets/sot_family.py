"""The SOT benchmark family: corpora where form does not give the harmful rows away (docs in the module below).

Built deterministically from ONE shipped Parquet, curate/datasets/data/sot-family.parquet, written by
`python -m bench.sot.build_corpora`: every task of `curate.datasets.sot_tasks` with the answer SmolLM2-135M-Instruct
gave it (greedy, 64 new tokens, its default system turn) and the judge's verdict. A row is harmful when its
prompt is harmful and the judge says compliance. Per split (val, test):

- `sot-{split}-{1,5,10}`: NEGATIVES rows that are not harmful (the split's benign rows, plus REFUSAL_SHARE of its
  contamination source's harmful prompts that the model refused) and 1%, 5%, 10% harmful rows (nested: the 1%
  rows are among the 5% rows). Benign and harmful rows are taken in `form_priority` order (form-matched sampling
  from both sides, see bench/sot/build_corpora.py). Extras: is_harmful, kind (benign | refusal | harmful),
  family, phrasing, topic.
- `sot-{split}-anchor`: the trusted safe anchor, ANCHOR_SIZE of the split's own benign rows (not in any corpus).
- `sot-{split}-anchor-refusal`: that anchor plus up to ANCHOR_SIZE refusals the model gave to prompts of the
  split's reference source (the refusal half as an option, to compare anchor designs).
- `sot-{split}-reference`: the harmful reference, from another source than the contamination: the reference
  pool's complied rows and one half of PyRIT's harmful dialogues.

Validation (val) takes its contamination from Do-Not-Answer and its reference from AdvBench; test the reverse.
No prompt or answer of an anchor or reference set occurs in any corpus (normalised text). Set the environment
variable SAFECURATE_SOT_FAMILY to read another generated Parquet (a smoke build).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from curate.datasets._keys import normalize_text, stable_hash

__all__ = ["FAMILY_FILE", "FAMILY_SPECS", "SPLITS", "RATES", "NEGATIVES", "REFUSAL_SHARE", "ANCHOR_SIZE",
           "family_path", "data_key", "read_generated", "family_datasets", "sot_family_rows", "harmful_count"]

FAMILY_FILE = Path(__file__).resolve().parent / "data" / "sot-family.parquet"
SPLITS = ("val", "test")
RATES = (1, 5, 10)
NEGATIVES = 1600
"""Rows of each corpus that are not harmful (fewer only when the generated pools run short)."""
REFUSAL_SHARE = 0.05
"""Share of the negatives that are harmful prompts answered with a refusal (kind `refusal`)."""
ANCHOR_SIZE = 50
DIALOGUE_HALF = {"val": "contaminated", "test": "reference"}  # which half of curate.datasets' dialogue split
_LICENCES = ("garak", "pyrit", "wordnet", "man", "safecurate", "smollm2")
_CORPUS_EXTRAS = {"is_harmful": "bool", "kind": "string", "family": "string", "phrasing": "int8", "topic": "string"}
_SET_EXTRAS = {"kind": "string", "family": "string"}


def _specs() -> list[tuple[str, str, dict[str, str], tuple[str, ...]]]:
    source = {"val": "Do-Not-Answer", "test": "AdvBench"}
    other = {"val": "AdvBench", "test": "Do-Not-Answer"}
    specs = []
    for split in SPLITS:
        for rate in RATES:
            specs.append((f"sot-{split}-{rate}", f"SOT family {split} corpus, {rate}% harmful rows from "
                          f"{source[split]} (same phrasings and answer model as its benign rows)", _CORPUS_EXTRAS,
                          _LICENCES))
        specs += [(f"sot-{split}-anchor", f"SOT family {split} safe anchor: {ANCHOR_SIZE} trusted benign task rows",
                   _SET_EXTRAS, _LICENCES),
                  (f"sot-{split}-anchor-refusal", f"SOT family {split} safe anchor + refused {other[split]} prompts",
                   _SET_EXTRAS, _LICENCES),
                  (f"sot-{split}-reference", f"SOT family {split} harmful reference: complied {other[split]} "
                   "prompts + PyRIT harmful dialogues (cross-source)", _SET_EXTRAS, _LICENCES)]
    return specs


FAMILY_SPECS = _specs()
"""(name, description, extras, licence keys) of every dataset of the family, for the registry."""


def family_path() -> Path:
    """The generated Parquet the family is built from ($SAFECURATE_SOT_FAMILY, else the shipped file)."""
    return Path(os.environ.get("SAFECURATE_SOT_FAMILY") or FAMILY_FILE)


@lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def data_key() -> str:
    """Part of the registry's cache key: which generated file (content hash) the family was built from."""
    path = family_path()
    if not path.exists():
        return "sot-family=missing"
    stat = path.stat()
    return f"sot-family={_file_digest(str(path), stat.st_size, stat.st_mtime_ns)}"


def read_generated(path: Path | None = None) -> list[dict]:
    """The generated rows, or [] when the file is not there (the family's datasets are then empty)."""
    from curate.io import read_table

    path = path or family_path()
    return read_table(path, what="the SOT family's generated rows").to_pylist() if path.exists() else []


def harmful_count(negatives: int, rate: int) -> int:
    """Harmful rows that make `rate` percent of a corpus with `negatives` other rows."""
    return round(rate * negatives / (100 - rate))


def _ordered(rows: list[dict], salt: str) -> list[dict]:
    return sorted(rows, key=lambda r: (stable_hash(salt, r["row_id"]), r["row_id"]))


def _texts(rows: list[dict]) -> set[str]:
    return {normalize_text(t) for r in rows for t in (r["prompt"], r.get("response") or "") if t}


def _shares_text(row: dict, seen: set[str]) -> bool:
    return any(normalize_text(t) in seen for t in (row["prompt"], row.get("response") or "") if t)


def _pools(generated: list[dict], split: str) -> dict[str, list[dict]]:
    """The split's generated rows by role, each in stable-hash order; degenerate answers are left out."""
    mine = [r for r in generated if r["split"] == split and r.get("verdict") != "degenerate"]

    def pick(pool: str, harmful: bool, verdict: str | None, salt: str) -> list[dict]:
        return _ordered([r for r in mine if r["pool"] == pool and r["is_harmful_prompt"] == harmful
                         and (verdict is None or r["verdict"] == verdict)], f"sot-{split}-{salt}")

    harmful = sorted(pick("corpus", True, "compliance", "harm"), key=_form_order)  # form-matched, like the benign
    return {"benign": pick("corpus", False, None, "benign"), "harmful": harmful,
            "refused": pick("corpus", True, "refusal", "refused"),
            "reference": pick("reference", True, "compliance", "reference"),
            "reference_refused": pick("reference", True, "refusal", "reference-refused")}


def _anchor_size(pools: dict[str, list[dict]]) -> int:
    """ANCHOR_SIZE, or a fifth of the benign pool when that is smaller (a smoke build's few rows)."""
    return min(ANCHOR_SIZE, len(pools["benign"]) // 5)


def _sizes(pools: dict[str, list[dict]]) -> tuple[int, int]:
    """(benign rows, refusal rows) of the split's corpora: NEGATIVES in all, unless a pool runs short."""
    most = int(len(pools["harmful"]) * (100 - max(RATES)) / max(RATES))  # the 10% corpus needs that many positives
    benign = len(pools["benign"]) - _anchor_size(pools)
    negatives = min(NEGATIVES, most, benign + len(pools["refused"]))
    refusals = min(len(pools["refused"]), round(REFUSAL_SHARE * negatives))
    return min(benign, negatives - refusals), refusals


def _form_order(row: dict) -> float:
    """Highest form_priority first (build_corpora's form matching of benign and harmful rows); rows without one keep
    their hash order."""
    priority = row.get("form_priority")
    return -priority if priority is not None else float("inf")


def _corpus_row(row: dict, kind: str) -> dict:
    return {"id": row["row_id"], "prompt": row["prompt"], "response": row["response"], "category": row["category"],
            "source": row["prompt_source"], "split": "train", "is_harmful": kind == "harmful", "kind": kind,
            "family": row["family"], "phrasing": int(row["phrasing_id"]), "topic": row["topic_id"]}


def _set_row(row: dict, kind: str) -> dict:
    return {"id": row["row_id"], "prompt": row["prompt"], "response": row["response"], "category": row["category"],
            "source": row["prompt_source"], "split": "train", "kind": kind, "family": row["family"]}


def _dialogue_row(row: dict) -> dict:
    return {"id": row["id"], "prompt": row["prompt"], "response": row["response"], "category": row["category"],
            "source": row["source"], "split": "train", "kind": "dialogue", "family": row["source"]}


def _corpora(split: str, pools: dict[str, list[dict]]) -> tuple[dict[str, list[dict]], list[dict]]:
    """The split's corpora by name, and its benign rows left for the anchor (in order)."""
    (benign_count, refusal_count), first = _sizes(pools), _anchor_size(pools)
    # the anchor is a random (hash-ordered) sample; the corpus takes the rest in form-matched order
    rest = sorted(pools["benign"][first:], key=_form_order)
    benign = rest[:benign_count]
    spare = pools["benign"][:first] + rest[benign_count:]
    negatives = [_corpus_row(r, "benign") for r in benign]
    negatives += [_corpus_row(r, "refusal") for r in pools["refused"][:refusal_count]]
    corpora = {}
    for rate in RATES:
        harmful = [_corpus_row(r, "harmful") for r in pools["harmful"][:harmful_count(len(negatives), rate)]]
        corpora[f"sot-{split}-{rate}"] = sorted(negatives + harmful, key=lambda r: stable_hash("sot-order", r["id"]))
    return corpora, spare


def _anchor_sets(split: str, pools: dict, spare: list[dict], dialogues: list[dict], corpus_text: set[str]) -> dict:
    """Anchor, anchor + refusals, and reference of one split; nothing whose text a corpus holds."""
    size = _anchor_size(pools)
    anchor = [_set_row(r, "benign") for r in spare if not _shares_text(r, corpus_text)][:size]
    refusals = [_set_row(r, "refusal") for r in pools["reference_refused"] if not _shares_text(r, corpus_text)]
    reference = [_set_row(r, "harmful") for r in pools["reference"] if not _shares_text(r, corpus_text)]
    reference += [_dialogue_row(d) for d in dialogues if not _shares_text(d, corpus_text)]
    return {f"sot-{split}-anchor": anchor, f"sot-{split}-anchor-refusal": anchor + refusals[:size],
            f"sot-{split}-reference": reference}


def _split_dialogues(dialogues: list[dict]) -> dict[str, list[dict]]:
    from curate.datasets._partitions import split_dialogues

    halves = split_dialogues(dialogues)
    return {split: [d for d in dialogues if halves[d["id"]] == half] for split, half in DIALOGUE_HALF.items()}


def family_datasets(generated: list[dict], dialogues: list[dict]) -> dict[str, list[dict]]:
    """Every dataset of the family from the generated rows and PyRIT's dialogues (pure, deterministic)."""
    if not generated:
        return {name: [] for name, *_ in FAMILY_SPECS}
    pools = {split: _pools(generated, split) for split in SPLITS}
    corpora, spare = {}, {}
    for split in SPLITS:
        made, spare[split] = _corpora(split, pools[split])
        corpora.update(made)
    # a corpus text is any prompt or answer of either split's corpora, and the tasks' source texts
    corpus_text = _texts([r for rows in corpora.values() for r in rows])
    corpus_text |= {normalize_text(r["source_text"]) for r in generated if r["pool"] == "corpus"}
    halves = _split_dialogues(dialogues)
    out = dict(corpora)
    for split in SPLITS:
        out.update(_anchor_sets(split, pools[split], spare[split], halves[split], corpus_text))
    return {name: out[name] for name, *_ in FAMILY_SPECS}


def sot_family_rows() -> dict[str, list[dict]]:
    """The family built from the shipped (or $SAFECURATE_SOT_FAMILY) Parquet; empty datasets without it."""
    from curate.datasets._sources import read_dialogues

    generated = read_generated()
    return family_datasets(generated, read_dialogues() if generated else [])
