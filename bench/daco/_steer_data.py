"""The prompt splits of the steering evaluation, drawn from the registry with one seed and never overlapping:

- fit:  harmful-prompts train and benign-qa train prompts: the refusal-direction peer's difference of means;
- val:  other harmful-prompts train rows (DSR), over-refusal train (over-refusal), other benign-qa train rows
        (reference answers, NLL): every method's settings are chosen here;
- test: harmful-prompts heldout (318 rows), over-refusal heldout (211), benign-qa heldout (NLL): reported.

The dictionary's labels were scored against harmful-prompts train (concepts.labels), never against heldout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PromptSet", "Split", "SteerData", "load_steer_data", "take"]


@dataclass(frozen=True)
class PromptSet:
    ids: list[str]
    prompts: list[str]
    responses: list[str] | None = None
    """Reference answers (NLL sets only)."""

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Split:
    harmful: PromptSet
    """DSR: the share of these answered with a refusal."""
    benign: PromptSet
    """Over-refusal: the share of these (benign, alarming-looking) answered with a refusal."""
    nll: PromptSet
    """Benign prompts with reference answers: mean token NLL, the utility cost."""


@dataclass(frozen=True)
class SteerData:
    fit_harmful: list[str]
    fit_harmless: list[str]
    val: Split
    test: Split


def _table(name: str, split: str) -> dict[str, list]:
    from curate.datasets import load_dataset_table

    return load_dataset_table(name, split).select(["id", "prompt", "response"]).to_pydict()


def take(rows: dict[str, list], index, with_responses: bool = False) -> PromptSet:
    """The rows at `index` (sorted, so a set's order does not depend on the draw) as a PromptSet."""
    index = np.sort(np.asarray(index, dtype=int))
    pick = lambda column: [rows[column][i] for i in index]  # noqa: E731
    return PromptSet(pick("id"), pick("prompt"), pick("response") if with_responses else None)


def _cap(n: int, limit: int | None) -> int:
    return n if limit is None else min(n, limit)


def load_steer_data(fit_prompts: int, val_harmful: int, val_benign: int, val_nll: int, test_harmful: int | None,
                    test_benign: int | None, test_nll: int | None, seed: int = 0) -> SteerData:
    """The registry splits above; each count is capped by what the registry holds (None = every row)."""
    rng = np.random.default_rng(seed)
    harmful, qa = _table("harmful-prompts", "train"), _table("benign-qa", "train")
    h_order, q_order = rng.permutation(len(harmful["id"])), rng.permutation(len(qa["id"]))
    n_fit_h = min(fit_prompts, max(0, len(h_order) - val_harmful))
    fit_h, val_h = h_order[:n_fit_h], h_order[n_fit_h:n_fit_h + val_harmful]
    fit_q, val_q = q_order[:fit_prompts], q_order[fit_prompts:fit_prompts + val_nll]
    over_train, over_test = _table("over-refusal", "train"), _table("over-refusal", "heldout")
    h_test, qa_test = _table("harmful-prompts", "heldout"), _table("benign-qa", "heldout")
    val = Split(take(harmful, val_h), take(over_train, rng.permutation(len(over_train["id"]))[:val_benign]),
                take(qa, val_q, with_responses=True))
    test = Split(take(h_test, rng.permutation(len(h_test["id"]))[:_cap(len(h_test["id"]), test_harmful)]),
                 take(over_test, rng.permutation(len(over_test["id"]))[:_cap(len(over_test["id"]), test_benign)]),
                 take(qa_test, rng.permutation(len(qa_test["id"]))[:_cap(len(qa_test["id"]), test_nll)],
                      with_responses=True))
    return SteerData([harmful["prompt"][i] for i in fit_h], [qa["prompt"][i] for i in fit_q], val, test)
