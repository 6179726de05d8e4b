"""Column layouts of `curate export`: the input's own columns, or what TRL's SFTTrainer reads.

TRL takes a prompt-completion table (`prompt`, `completion`) or a conversational one (`messages`, a list of
{role, content} turns). A weighted corpus also carries labels (`is_harmful`, `kind`) and SOT diagnostics
(`pull_potential`, `push_potential`, `keep`) that must not reach training data by accident, so the TRL layouts keep
only the text, the row `id` and, in --mode weights, `sot_weight`; `keep_columns` keeps the rest as well.
"""

from __future__ import annotations

from typing import Literal

from curate.errors import InputError

__all__ = ["SCHEMAS", "Schema", "apply_schema", "training_columns"]

Schema = Literal["plain", "trl", "trl-messages"]
SCHEMAS: tuple[str, ...] = ("plain", "trl", "trl-messages")

PROMPT, RESPONSE = "prompt", "response"


def training_columns(schema: str, mode: str) -> list[str]:
    """The columns a TRL layout writes, in order (the others are dropped unless kept)."""
    text = ["prompt", "completion"] if schema == "trl" else ["messages"]
    return ["id", *text, *(["sot_weight"] if mode == "weights" else [])]


def _messages(prompts: list, responses: list) -> list[list[dict]]:
    return [[{"role": "user", "content": p}, {"role": "assistant", "content": r or ""}]
            for p, r in zip(prompts, responses)]


def _check_text_columns(table, source: str) -> None:
    missing = [c for c in (PROMPT, RESPONSE) if c not in table.column_names]
    if missing:
        raise InputError(f"{source} has no {' or '.join(repr(c) for c in missing)} column (columns: "
                         f"{', '.join(table.column_names)}); --schema trl needs the prompt and response of each row: "
                         "export the Parquet written by `curate sot-weight` on prompt/response data, or use "
                         "--schema plain")
    nulls = table.column(PROMPT).null_count
    if nulls:
        raise InputError(f"{source}: {nulls} row(s) have a null prompt; TRL cannot train on them - drop those rows "
                         "or use --schema plain")


def apply_schema(table, schema: str, mode: str = "weights", keep_columns: bool = False, source: str = "input"):
    """`table` (pyarrow) laid out for `schema`: plain returns it unchanged; trl renames response -> completion;
    trl-messages turns prompt/response into one `messages` column of user/assistant turns.

    Columns outside `training_columns(schema, mode)` are dropped unless `keep_columns`.
    """
    import pyarrow as pa

    if schema == "plain":
        return table
    _check_text_columns(table, source)
    prompts, responses = table.column(PROMPT), table.column(RESPONSE).fill_null("")
    if schema == "trl":
        text = {"prompt": prompts, "completion": responses}
    else:
        text = {"messages": pa.array(_messages(prompts.to_pylist(), responses.to_pylist()))}
    rest = [c for c in table.column_names if c not in (PROMPT, RESPONSE, *text)]
    wanted = training_columns(schema, mode)
    columns = {c: table.column(c) for c in wanted if c in rest}
    columns.update(text)
    if keep_columns:
        columns.update({c: table.column(c) for c in rest if c not in columns})
    order = [c for c in wanted if c in columns] + [c for c in columns if c not in wanted]
    return pa.table({c: columns[c] for c in order})
