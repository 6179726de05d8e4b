"""HTML pieces of the report page: escaped text, tables that sort and filter, key-value lists, the page itself.

Every value that reaches the page goes through `esc` (html.escape), so text from a corpus cannot inject markup.
The page needs no server and no network: CSS and the script are inline, plots are data: URIs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from curate.report.assets import ERROR_HOOK, PAGE_CSS, PAGE_SCRIPT

__all__ = ["Section", "Value", "esc", "cell", "table", "key_values", "note", "details", "grid", "page"]

TEXT_LIMIT = 600
"""Characters of one text cell written into the page; longer text ends in an ellipsis."""


class Value(NamedTuple):
    """A cell shown as `text` and sorted by `key` (e.g. "84.9% [80.6, 88.4]" sorted by 0.849)."""

    text: str
    key: float


@dataclass(frozen=True)
class Section:
    """One output's part of the page."""

    kind: str
    """corpus, dictionary, evaluation, trainer, embeddings, judged, pipeline or error."""
    title: str
    body: str
    """Finished HTML (already escaped)."""
    source: str = ""
    """The file or folder it was read from."""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def cell(value: Any, limit: int = TEXT_LIMIT) -> tuple[str, str | None]:
    """(escaped display text, sort key or None) of one value."""
    if value is None:
        return "", None
    if isinstance(value, Value):
        return esc(value.text), repr(float(value.key))
    if isinstance(value, bool):
        return ("true" if value else "false"), ("1" if value else "0")
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value), str(value)
    if isinstance(value, float):
        return _number(value), repr(value)
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return esc(text), None


def _row(values: Sequence[Any], limit: int) -> str:
    cells = []
    for value in values:
        shown, key = cell(value, limit)
        numeric = key is not None and not isinstance(value, bool)
        attrs = (f' data-value="{esc(key)}"' if key is not None else "") + (' class="num"' if numeric else "")
        cells.append(f"<td{attrs}>{shown}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, table_id: str, searchable: bool = False,
          caption: str | None = None, total: int | None = None, limit: int = TEXT_LIMIT) -> str:
    """A sortable table (click a header); `searchable` adds a filter box. `total` > rows shown adds a note."""
    body = [_row(r, limit) for r in rows]
    head = "".join(f'<th scope="col" tabindex="0">{esc(c)}</th>' for c in columns)
    parts = []
    if caption:
        parts.append(f'<p class="caption">{esc(caption)}</p>')
    if total is not None and total > len(body):
        parts.append(f'<p class="note">Showing {len(body):,} of {total:,} rows (raise --max-rows to write more '
                     "into the page).</p>")
    if searchable:
        parts.append(f'<div class="search"><input type="search" class="table-search" data-table="{esc(table_id)}" '
                     f'placeholder="Filter rows…" aria-label="Filter the rows of this table">'
                     f'<span class="count" id="{esc(table_id)}-count">{len(body):,} rows</span></div>')
    parts.append(f'<div class="table-wrap"><table id="{esc(table_id)}" class="data sortable">'
                 f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    return "".join(parts)


def key_values(items: Mapping[str, Any], table_id: str | None = None) -> str:
    """A two-column list of settings or figures; nested values are shown as compact text."""
    rows = []
    for key, value in items.items():
        if isinstance(value, Mapping):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        shown, _ = cell(value, limit=300)
        rows.append(f'<tr><th scope="row">{esc(key)}</th><td>{shown}</td></tr>')
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f'<table class="kv"{ident}><tbody>{"".join(rows)}</tbody></table>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def details(summary: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body}</details>"


def grid(*blocks: str) -> str:
    """Blocks side by side where the page is wide enough (plots, small tables)."""
    return '<div class="grid">' + "".join(f"<div>{b}</div>" for b in blocks if b) + "</div>"


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole self-contained page."""
    toc = "".join(f'<li><a href="#section-{i}">{esc(s.title)}</a> <span class="kind">{esc(s.kind)}</span></li>'
                  for i, s in enumerate(sections))
    body = "".join(
        f'<section id="section-{i}" class="report-section" data-kind="{esc(s.kind)}">'
        f"<h2>{esc(s.title)}</h2>" + (f'<p class="source">{esc(s.source)}</p>' if s.source else "") +
        f"{s.body}</section>" for i, s in enumerate(sections))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><script>{ERROR_HOOK}</script><style>{PAGE_CSS}</style></head>"
            f'<body><ul id="js-errors" hidden></ul><header><h1>{esc(title)}</h1><p class="subtitle">{esc(subtitle)}</p>'
            f'<nav id="toc" aria-label="Sections"><ol>{toc}</ol></nav></header>'
            f'<main id="report">{body}</main>'
            f"<script>{PAGE_SCRIPT}</script></body></html>\n")
