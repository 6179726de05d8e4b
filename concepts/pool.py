"""Stimulus pools: the default real-text pool (WordNet glosses + examples, man-page sentences) or a user's file.

A pool is a table with `id`, `text` (the caption) and, for image-caption pools, `image` (an absolute path).
"""

from __future__ import annotations

import re
from pathlib import Path

from curate.errors import InputError
from curate.io import read_table, write_parquet

__all__ = ["wordnet_sentences", "man_page_sentences", "default_pool", "read_pool", "load_pool"]

_POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
_SENTENCE_SPLIT = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")
MAN_DIRS = ("/usr/share/man/man1", "/usr/share/man/man8")
_SKIP_SECTIONS = {"NAME", "SYNOPSIS", "SEE ALSO", "AUTHOR", "AUTHORS", "COPYRIGHT", "REPORTING BUGS", "BUGS",
                  "HISTORY", "LICENSE", "FILES", "EXAMPLES", "EXAMPLE"}


def wordnet_sentences() -> list[dict]:
    """Definition and every example sentence of all WordNet synsets (nouns, verbs, adjectives, adverbs)."""
    from curate.datasets.wordnet import parse_gloss, wordnet_dir

    folder, rows = wordnet_dir(), []
    for pos, name in _POS_FILES.items():
        with open(folder / name, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("  ") or "|" not in line:
                    continue
                offset = line.split(" ", 1)[0]
                definition, examples = parse_gloss(line.split("|", 1)[1])
                key = f"wn-{pos}{offset}"
                if len(definition) >= 8:
                    rows.append({"id": f"{key}-d", "text": definition, "source": "wordnet-gloss"})
                rows += [{"id": f"{key}-e{k}", "text": e, "source": "wordnet-example"}
                         for k, e in enumerate(examples) if len(e) >= 8]
    return rows


def _page_sentences(path: Path) -> tuple[str, list[str]] | None:
    """(command, its NAME summary + the prose sentences of its other sections) of one page, or None."""
    import gzip

    from curate.datasets.manpages import parse_man_page, roff_paragraphs, sections_of

    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError):
        return None
    source = raw.decode("utf-8", errors="replace")
    page = parse_man_page(source)
    if page is None:
        return None
    sections = sections_of(source)
    lines = [line for title, body in sections.items() if title not in _SKIP_SECTIONS for line in body + [""]]
    paragraphs = roff_paragraphs(lines)
    sentences = [s.strip() for p in paragraphs for s in _SENTENCE_SPLIT.split(p)]
    return page["command"], [page["summary"]] + [s for s in sentences if 20 <= len(s) <= 400]


def man_page_sentences(dirs: tuple[str, ...] = MAN_DIRS, max_pages: int | None = None) -> list[dict]:
    """Prose sentences of the installed command pages (first page per command name)."""
    from tqdm.auto import tqdm

    paths = sorted(p for d in dirs for p in Path(d).glob("*") if p.is_file())
    rows, seen = [], set()
    for path in tqdm(paths[:max_pages] if max_pages else paths, desc="man pages", unit="page", mininterval=2):
        parsed = _page_sentences(path)
        if parsed is None or parsed[0] in seen:
            continue
        seen.add(parsed[0])
        rows += [{"id": f"man-{parsed[0]}-{k}", "text": s, "source": "man-page"} for k, s in enumerate(parsed[1])]
    return rows


def default_pool(cache: Path | None = None):
    """WordNet + man-page sentences, unique texts (first occurrence kept); cached as Parquet when `cache` is given."""
    import polars as pl

    if cache is not None and cache.is_file():
        return pl.read_parquet(cache)
    frame = pl.DataFrame(wordnet_sentences() + man_page_sentences()).unique("text", keep="first", maintain_order=True)
    if cache is not None:
        write_parquet(frame, cache)
    return frame


def read_pool(path: str | Path):
    """A user pool (Parquet or JSONL): `caption` or `text`, optional `image` (relative to the file) and `id`."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--pool {path}: file not found; give a Parquet/JSONL file or 'default'")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".jsonl", ".ndjson"):
        raise InputError(f"--pool {path}: unsupported file type '{suffix}'; use .parquet or .jsonl")
    frame = pl.from_arrow(read_table(path, what="a pool file")) if suffix == ".parquet" else pl.read_ndjson(path)
    text = "caption" if "caption" in frame.columns else "text" if "text" in frame.columns else None
    if text is None:
        raise InputError(f"--pool {path}: no `caption` or `text` column (columns: {', '.join(frame.columns)})")
    frame = frame.filter(pl.col(text).is_not_null() & (pl.col(text).str.strip_chars() != ""))
    if frame.height == 0:
        raise InputError(f"--pool {path}: the pool is empty (no non-empty `{text}` values); add stimuli")
    ids = frame["id"].cast(pl.Utf8) if "id" in frame.columns else pl.Series([f"s{k:08d}" for k in range(frame.height)])
    if ids.n_unique() != frame.height:
        raise InputError(f"--pool {path}: the `id` column has duplicates; make ids unique or drop the column")
    out = pl.DataFrame({"id": ids, "text": frame[text].cast(pl.Utf8), "source": [path.name] * frame.height})
    if "image" in frame.columns:
        images = [str(p if Path(p).is_absolute() else path.parent / p) for p in frame["image"].cast(pl.Utf8)]
        out = out.with_columns(pl.Series("image", images))
    return out


def load_pool(spec: str, cache: Path | None = None):
    """'default' or a pool file → the pool table (id, text, source[, image])."""
    return default_pool(cache) if spec == "default" else read_pool(spec)
