"""Rows of the SOT end-to-end experiment on the benchmark family: what every arm trains on and is judged on.

- train[rate]: the rows of `sot-test-{rate}` in registry order (or a stratified seeded subset of --ft-rows, the
  same for every arm and seed), columns id, prompt, response, is_harmful, kind.
- align: --align-rows of `safe-anchor`, half refusals and half benign rows (the start model's alignment).
- eval_harmful: `harmful-prompts:heldout` less the prompts that a test corpus, anchor or reference holds (the test
  corpora wrap AdvBench behaviours, some of them in the held-out split: 40 of sot-test-10's harmful rows), topped
  up to --eval-harmful with `harmful-prompts:train` prompts that neither those sets nor the alignment rows hold.
- eval_benign: the over-refusal set's held-out split less what those sets hold (62 of its prompts are benign rows of
  the test corpora), topped up from its train split; a refusal here is over-refusal.
- nll_task: held-out answers of the task itself: test-split benign rows of the family's generated file that no test
  corpus or anchor holds (SmolLM2's own answers, degenerate ones left out).
- nll_general: `benign-qa:heldout` prompts and their reference answers.
Each eval set has a column `origin` (heldout | train). "Holds" compares normalised text: a corpus row's task text
(the prompt before its phrasing wrapper) and its prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["Sizes", "Data", "stratified_subset", "held_out", "build", "table_digest"]

CORPUS = "sot-test-{rate}"
TRAIN_COLUMNS = ["id", "prompt", "response", "is_harmful", "kind"]


@dataclass(frozen=True)
class Sizes:
    align_rows: int = 160
    ft_rows: int | None = None
    eval_harmful: int = 320
    eval_benign: int = 200
    nll_rows: int = 300
    nll_general_rows: int = 200
    data_seed: int = 0


@dataclass
class Data:
    train: dict[int, pa.Table]
    align: pa.Table
    eval_harmful: pa.Table
    eval_benign: pa.Table
    nll_task: pa.Table
    nll_general: pa.Table

    def counts(self) -> dict:
        """Row counts (and held-out/train origins) of every set, for the results file."""
        out = {f"train_{r}": {"rows": t.num_rows, "harmful": int(sum(t.column("is_harmful").to_pylist()))}
               for r, t in self.train.items()}
        out["align"] = self.align.num_rows
        for name in ("eval_harmful", "eval_benign"):
            origins = getattr(self, name).column("origin").to_pylist()
            out[name] = {"rows": len(origins), "heldout": origins.count("heldout"), "train": origins.count("train")}
        out["nll_task"], out["nll_general"] = self.nll_task.num_rows, self.nll_general.num_rows
        return out


def _norm(text: str | None) -> str:
    from curate.datasets._keys import normalize_text

    return normalize_text(text or "")


def stratified_subset(table: pa.Table, rows: int | None, seed: int) -> pa.Table:
    """`rows` rows of `table` with its harmful share kept (rounded), drawn by `seed`, in table order; all when None."""
    if rows is None or rows >= table.num_rows:
        return table
    harmful = np.asarray(table.column("is_harmful").to_pylist(), dtype=bool)
    n_harm = int(round(rows * harmful.mean()))
    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.choice(np.flatnonzero(harmful), n_harm, replace=False),
                           rng.choice(np.flatnonzero(~harmful), rows - n_harm, replace=False)])
    return table.take(np.sort(pick))


def held_out(heldout: list[dict], spare: list[dict], excluded: set[str], n: int, seed: int) -> list[dict]:
    """Up to `n` rows whose normalised prompt is not in `excluded`: held-out rows first (a seeded subset when more are
    left than n), then spare rows in seeded order; each gets origin heldout / train. Prompt texts occur once."""
    rng = np.random.default_rng(seed)
    seen = set(excluded)

    def fresh(rows: list[dict]) -> list[dict]:
        kept = []
        for row in rows:
            key = _norm(row["prompt"])
            if key not in seen:
                seen.add(key)
                kept.append(row)
        return kept

    first = fresh(heldout)
    if len(first) > n:
        first = [first[i] for i in np.sort(rng.choice(len(first), n, replace=False))]
    picked = [dict(r, origin="heldout") for r in first]
    rest = fresh([spare[i] for i in rng.permutation(len(spare))]) if len(picked) < n else []
    return picked + [dict(r, origin="train") for r in rest[: n - len(picked)]]


def _align(anchor: pa.Table, rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    kinds = np.asarray(anchor.column("kind").to_pylist())
    parts = []
    for kind in ("refusal", "benign"):
        idx = np.flatnonzero(kinds == kind)
        parts.append(anchor.take(np.sort(rng.choice(idx, min(rows // 2, idx.size), replace=False))))
    return pa.concat_tables(parts).select(["id", "prompt", "response", "kind"])


def _eval_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([{"id": r["id"], "prompt": r["prompt"], "category": r.get("category"),
                                  "origin": r["origin"]} for r in rows])


def _task_answers(generated: list[dict], used_ids: set[str], excluded: set[str], n: int, seed: int) -> pa.Table:
    pool = [r for r in generated if r["split"] == "test" and r["pool"] == "corpus" and not r["is_harmful_prompt"]
            and r.get("verdict") != "degenerate" and r["row_id"] not in used_ids
            and _norm(r["source_text"]) not in excluded and _norm(r["prompt"]) not in excluded]
    pool.sort(key=lambda r: r["row_id"])
    pick = np.sort(np.random.default_rng(seed).choice(len(pool), min(n, len(pool)), replace=False))
    return pa.Table.from_pylist([{"id": pool[i]["row_id"], "prompt": pool[i]["prompt"],
                                  "response": pool[i]["response"], "category": pool[i]["category"]} for i in pick])


def build(rates: list[int], sizes: Sizes) -> Data:
    """Every set of the experiment from the registry and the family's generated file (deterministic)."""
    from curate.datasets import load_dataset_table
    from curate.datasets.sot_family import RATES, read_generated

    generated = read_generated()
    by_id = {r["row_id"]: r for r in generated}
    corpora = {r: load_dataset_table(CORPUS.format(rate=r)) for r in RATES}
    # the eval sets leave out what ANY test corpus, anchor or reference holds (every rate is judged on the same
    # prompts, and on none that an arm trained on or a weighting method read)
    seen = [row for t in corpora.values() for row in t.select(["id", "prompt"]).to_pylist()]
    seen += [row for s in ("anchor", "anchor-refusal", "reference")
             for row in load_dataset_table(f"sot-test-{s}").select(["id", "prompt"]).to_pylist()]
    used_ids = {row["id"] for row in seen}
    excluded = {_norm(row["prompt"]) for row in seen}
    excluded |= {_norm(by_id[i]["source_text"]) for i in used_ids if i in by_id}
    align = _align(load_dataset_table("safe-anchor"), sizes.align_rows, sizes.data_seed)
    seed = sizes.data_seed
    harmful = held_out(load_dataset_table("harmful-prompts", "heldout").to_pylist(),
                       load_dataset_table("harmful-prompts", "train").to_pylist(),
                       excluded | {_norm(p) for p in align.column("prompt").to_pylist()}, sizes.eval_harmful, seed)
    benign = held_out(load_dataset_table("over-refusal", "heldout").to_pylist(),
                      load_dataset_table("over-refusal", "train").to_pylist(), excluded, sizes.eval_benign, seed)
    general = load_dataset_table("benign-qa", "heldout")
    general = general.take(np.sort(np.random.default_rng(seed).choice(
        general.num_rows, min(sizes.nll_general_rows, general.num_rows), replace=False)))
    train = {r: stratified_subset(corpora[r].select(TRAIN_COLUMNS), sizes.ft_rows, seed) for r in rates}
    return Data(train=train, align=align, eval_harmful=_eval_table(harmful), eval_benign=_eval_table(benign),
                nll_task=_task_answers(generated, used_ids, excluded, sizes.nll_rows, seed),
                nll_general=general.select(["id", "prompt", "response", "category"]))


def table_digest(table: pa.Table, columns: tuple[str, ...] = ("id", "prompt")) -> str:
    """A short content hash of a set's ids and prompts: a changed registry build changes it."""
    digest = hashlib.sha256()
    for column in columns:
        for value in table.column(column).to_pylist():
            digest.update(str(value).encode() + b"\0")
    return digest.hexdigest()[:16]
