"""A small roff/mdoc reader: the NAME summary and DESCRIPTION opening of a man page as plain text."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

__all__ = ["ManPage", "parse_man_page", "read_man_page", "plain_text", "sections_of", "roff_paragraphs"]

_ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\s[+-]?\d"), ""),  # size changes
    (re.compile(r"\\\*?\((lq|rq|Lq|Rq)"), '"'),
    (re.compile(r"\\\*?\((aq|cq|oq)"), "'"),
    (re.compile(r"\\\((em|en|hy|mi)"), "-"),
    (re.compile(r"\\\[(em|en|hy|mi)\]"), "-"),
    (re.compile(r"\\\*\[[^\]]*\]|\\\*\(..|\\\*."), ""),  # string registers
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),  # other glyphs
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\[&|^%c:)/,~0 ]"), " "),
    (re.compile(r'\\".*$'), ""),
]
_TEXT_MACROS = {"B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "Nm", "Ar", "Fl", "Cm", "Pa", "Em", "Sy",
                "Dq", "Qq", "Ql", "Li", "Xr", "Ev", "Va", "Ic", "Tn", "Ux", "Nd", "Op", "Ad", "An"}
_BREAK_MACROS = {"PP", "LP", "P", "Pp", "TP", "IP", "HP", "sp", "br", "Bl", "El", "It", "RS", "RE", "nf", "fi",
                 "Bd", "Ed"}


class ManPage(dict):
    """{command, summary, description} of one page."""


def plain_text(text: str) -> str:
    for pattern, replacement in _ESCAPES:
        text = pattern.sub(replacement, text)
    text = text.replace("\\", "")
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([.,;:!?])(?=\s|$)", r"\1", text)


def _macro_text(name: str, args: str) -> str:
    if name in {"Fl"}:
        return "-" + args.split()[0] if args.split() else "-"
    if name in {"Xr"} and args.split():
        parts = args.split()
        return f"{parts[0]}({parts[1]})" if len(parts) > 1 else parts[0]
    return args.replace('"', "")


def sections_of(source: str) -> dict[str, list[str]]:
    """Lines of text per section name (upper case); paragraph breaks are empty strings."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in source.splitlines():
        if line.startswith((".SH", ".Sh")):
            title = plain_text(line[3:].replace('"', "")).upper()
            current = sections.setdefault(title, [])
            continue
        if current is None or line.startswith(("'", '.\\"', "'\\\"")):
            continue
        if line.startswith("."):
            match = re.match(r"\.\s*(\w+)\s*(.*)", line)
            if not match:
                continue
            name, args = match.groups()
            if name in _TEXT_MACROS:
                current.append(_macro_text(name, args))
            elif name in _BREAK_MACROS:
                current.append("")
            continue
        current.append(line)
    return sections


def roff_paragraphs(lines: list[str]) -> list[str]:
    """Plain-text paragraphs of roff body lines (blank lines separate them)."""
    paragraphs, buffer = [], []
    for line in lines + [""]:
        if line.strip():
            buffer.append(line)
        elif buffer:
            paragraphs.append(plain_text(" ".join(buffer)))
            buffer = []
    return paragraphs


def _first_paragraph_sentences(lines: list[str], max_sentences: int) -> str:
    paragraphs = roff_paragraphs(lines)
    text = next((p for p in paragraphs if len(p) >= 20), "")
    sentences = re.split(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])", text)
    return " ".join(sentences[:max_sentences]).strip()


def parse_man_page(source: str, max_sentences: int = 2) -> ManPage | None:
    """NAME summary + first DESCRIPTION sentences, or None when the page has neither (e.g. a `.so` alias)."""
    if source.lstrip().startswith(".so "):
        return None
    sections = sections_of(source)
    name_text = plain_text(" ".join(sections.get("NAME", [])))
    match = re.match(r"(.+?)\s+-+\s+(.+)", name_text)
    if not match:
        return None
    command = match.group(1).split(",")[0].strip()
    summary = match.group(2).strip().rstrip(".")
    description = _first_paragraph_sentences(sections.get("DESCRIPTION", []), max_sentences)
    if not re.fullmatch(r"[A-Za-z0-9][\w.+-]*", command) or len(summary) < 5 or len(description) < 30:
        return None
    if len(description) > 600:
        description = description[:600].rsplit(" ", 1)[0] + " …"
    return ManPage(command=command, summary=summary, description=description)


def read_man_page(path: Path, max_sentences: int = 2) -> ManPage | None:
    """Parse one (possibly gzipped) page; unreadable or unparsable pages give None."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return parse_man_page(raw.decode("utf-8", errors="replace"), max_sentences)
    except (OSError, EOFError, ValueError):
        return None
