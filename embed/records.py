"""THE record rules shared by every stage: how a record gets its id and how it becomes text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import pyarrow as pa

from curate.errors import InputError
from embed.config import template_fields

__all__ = ["RowErrors", "record_ids", "render_texts", "content_hash"]


class RowErrors:
    """The --on-error policy: raise on the first bad record, or skip it and keep a count and a few examples."""

    def __init__(self, mode: str = "fail", keep: int = 20):
        self.mode = mode
        self.count = 0
        self.examples: list[str] = []
        self.keep = keep

    def bad(self, where: str, problem: str, fix: str) -> None:
        if self.mode == "fail":
            raise InputError(f"{where}: {problem}; {fix}, or pass --on-error skip to skip such records")
        self.count += 1
        if len(self.examples) < self.keep:
            self.examples.append(f"{where}: {problem}")

    def summary(self) -> dict:
        return {"count": self.count, "examples": list(self.examples)}


def content_hash(values: Sequence[object]) -> str:
    """16 hex digits of BLAKE2b over the JSON of the values: stable across runs, machines and row order."""
    payload = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=8).hexdigest()


def record_ids(
    table: pa.Table,
    id_field: str | None = None,
    fields: Sequence[str] = ("prompt", "response"),
    locate: Callable[[int], str] | None = None,
) -> list[str]:
    """Ids of a table's records: `id_field` if given, else an `id` column, else a content hash of `fields`.

    A field absent from the table hashes as null, so a prompt-only file and the same file with an all-null
    response column give the same ids.
    """
    column = id_field if id_field is not None else ("id" if "id" in table.column_names else None)
    if column is not None:
        if column not in table.column_names:
            raise InputError(f"--id-field {column}: the input has no such column; its columns are "
                             f"{', '.join(table.column_names)}")
        values = table.column(column).to_pylist()
        for k, value in enumerate(values):
            if value is None:
                where = locate(k) if locate else f"row {k + 1}"
                raise InputError(f"{where}: id column '{column}' is null; give every record an id "
                                 "or drop --id-field to use content hashes")
        return [str(v) for v in values]
    columns = [table.column(f).to_pylist() if f in table.column_names else [None] * table.num_rows for f in fields]
    return [content_hash(row) for row in zip(*columns)]


def render_texts(
    table: pa.Table, template: str, prompt_field: str = "prompt", response_field: str = "response"
) -> list[str]:
    """Each record rendered through the template; {prompt}/{response} read the named fields, other
    placeholders read the column of that name; null values (and an absent default response column) render
    as empty text."""
    names = template_fields(template)
    columns: dict[str, list] = {}
    for name in dict.fromkeys(names):
        column = {"prompt": prompt_field, "response": response_field}.get(name, name)
        if column in table.column_names:
            columns[name] = table.column(column).to_pylist()
        elif name == "response" and column == "response":
            columns[name] = [None] * table.num_rows
        else:
            option = {"prompt": "--prompt-field", "response": "--response-field"}.get(name, "--template")
            raise InputError(f"the input has no field '{column}' (named by {option}); its fields are "
                             f"{', '.join(table.column_names)}; set {option} to one of them")
    if names == ["prompt", "response"] and template == "{prompt}\n{response}":
        return [f"{'' if p is None else p}\n{'' if r is None else r}"
                for p, r in zip(columns["prompt"], columns["response"])]
    texts = []
    for k in range(table.num_rows):
        texts.append(template.format_map({n: ("" if c[k] is None else c[k]) for n, c in columns.items()}))
    return texts
