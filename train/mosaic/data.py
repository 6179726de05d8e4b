"""MOSAIC training rows: prompts grouped by category (null or unlisted = neutral), and negative targets."""

from __future__ import annotations

from dataclasses import dataclass

from curate.errors import InputError
from curate.io import require_columns
from embed import open_input

__all__ = ["MosaicRows", "load_rows", "fill_base_responses"]


@dataclass
class MosaicRows:
    prompts: list[str]
    responses: list[str | None]
    """The answer to keep for a negative (L_LM target); None until filled with the base model's own answer."""
    by_category: dict[str, list[int]]
    neutral: list[int]


def _split_categories(spec: str | None) -> list[str] | None:
    if spec is None:
        return None
    names = [c.strip() for c in spec.split(",") if c.strip()]
    if not names:
        raise InputError(f"--categories '{spec}': lists no category")
    return names


def load_rows(config) -> MosaicRows:
    """Read `config.data`; rows whose category is not among the trained categories are neutral."""
    table = open_input(str(config.data))
    require_columns(table, {config.prompt_field: "--prompt-field", config.category_field: "--category-field"},
                    config.data)
    prompts = [p or "" for p in table.column(config.prompt_field).to_pylist()]
    categories = table.column(config.category_field).to_pylist()
    has_response = config.response_field in table.column_names
    responses = table.column(config.response_field).to_pylist() if has_response else [None] * len(prompts)
    wanted = _split_categories(config.categories)
    if wanted is None:
        wanted = sorted({c for c in categories if c})
    if not wanted:
        raise InputError(f"'{config.data}': column '{config.category_field}' has no non-null category to train")
    by_category: dict[str, list[int]] = {c: [] for c in wanted}
    neutral: list[int] = []
    for i, (prompt, category) in enumerate(zip(prompts, categories)):
        if not prompt.strip():
            continue
        (by_category[category] if category in by_category else neutral).append(i)
    empty = [c for c, rows in by_category.items() if not rows]
    if empty:
        raise InputError(f"--categories: {', '.join(empty)} ha{'s' if len(empty) == 1 else 've'} no examples in "
                         f"'{config.data}' (column '{config.category_field}'); remove it or add rows")
    if not neutral and len(wanted) < 2:
        raise InputError(f"'{config.data}': no neutral rows (null {config.category_field}) and a single category; "
                         "negatives are needed to learn when not to refuse")
    return MosaicRows(prompts, list(responses), by_category, neutral)


def fill_base_responses(rows: MosaicRows, indices: list[int], model, tokenizer, max_new_tokens: int,
                        batch_size: int, progress: bool = True) -> int:
    """Give negatives without a response the frozen model's own greedy answer (self-distillation target)."""
    from curate.lm.generation import generate

    missing = sorted({i for i in indices if not rows.responses[i]})
    if not missing:
        return 0
    answers = generate(model, tokenizer, [rows.prompts[i] for i in missing], max_new_tokens=max_new_tokens,
                       batch_size=batch_size, progress=progress)
    for i, answer in zip(missing, answers):
        rows.responses[i] = answer
    return len(missing)
