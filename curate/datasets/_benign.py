"""Benign instruction-style Q/A from WordNet glosses and man-page descriptions (real human-written text)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from curate.datasets._keys import stable_hash
from curate.datasets.manpages import read_man_page
from curate.datasets.wordnet import read_noun_synsets

__all__ = ["wordnet_rows", "man_page_rows", "benign_rows", "frequent_noun_synsets", "man_page_paths", "article",
           "MAX_SYNSETS", "MAX_MAN_PAGES", "MAN_DIRS"]

MAX_SYNSETS = 3200  # most frequent noun synsets (distinct head words), 2 questions each
MAX_MAN_PAGES = 2000
MAN_DIRS = ("/usr/share/man/man1", "/usr/share/man/man8")

_WORD_TEMPLATES = [
    ("What does '{w}' mean?", "'{W}' means {d}.{ex}"),
    ("Define the word '{w}'.", "{W} (noun): {d}.{ex}"),
    ("Explain what {a} {w} is.", "{A} {w} is {d}.{ex}"),
    ("What is the meaning of the noun '{w}'?", "As a noun, '{w}' means {d}.{ex}"),
    ("Can you tell me what '{w}' refers to?", "'{W}' refers to {d}.{ex}"),
    ("In simple terms, what is {a} {w}?", "In simple terms, {a} {w} is {d}.{ex}"),
]
_MAN_TEMPLATES = [
    ("What does the `{c}` command do?", "Its manual page sums up `{c}` as: {s}. {d}"),
    ("What is `{c}` used for on Linux?", "`{c}` ({s}). {d}"),
    ("Explain the `{c}` command briefly.", "`{c}`: {s}. {d}"),
    ("Describe what the `{c}` program is for.", "The `{c}` program is described as: {s}. {d}"),
]


def article(word: str) -> str:
    """The indefinite article of `word` by its first letter ("an apple", "a bank")."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def frequent_noun_synsets() -> Iterator[dict]:
    """Noun synsets, most sense-tagged first (ties by offset), one per head word: lower-case words of three
    letters or more with a definition of eight characters or more (proper names and stubs make poor questions)."""
    seen = set()
    for synset in sorted(read_noun_synsets(), key=lambda s: (-s["count"], s["offset"])):
        word = synset["word"]
        if word in seen or not word.islower() or len(word) < 3 or len(synset["definition"]) < 8:
            continue
        seen.add(word)
        yield synset


def man_page_paths(dirs: tuple[str, ...], salt: str) -> list[Path]:
    """The page files of `dirs` (gcloud's thousands of subcommand pages left out) in an order shuffled by a stable
    hash of `salt` and the file name, so a cap takes a spread of commands rather than the first letters."""
    paths = sorted(p for d in dirs for p in Path(d).glob("*") if p.is_file() and not p.name.startswith("gcloud"))
    return sorted(paths, key=lambda p: (stable_hash(salt, p.name), p.name))


def _word_qa(template: tuple[str, str], synset: dict) -> tuple[str, str]:
    word, definition = synset["word"], synset["definition"]
    example = f' For example: "{synset["examples"][0]}".' if synset["examples"] else ""
    fields = {"w": word, "W": word[:1].upper() + word[1:], "a": article(word), "A": article(word).capitalize(),
              "d": definition.rstrip("."), "ex": example}
    return template[0].format(**fields), template[1].format(**fields)


def wordnet_rows() -> list[dict]:
    """Two questions for each of the MAX_SYNSETS most frequent nouns (one synset per head word)."""
    rows = []
    for synset in islice(frequent_noun_synsets(), MAX_SYNSETS):
        key = f"{synset['offset']:08d}"
        first = stable_hash("wn-template", key) % len(_WORD_TEMPLATES)
        for q, index in enumerate((first, (first + 1 + stable_hash("wn-second", key) % 5) % len(_WORD_TEMPLATES)), 1):
            prompt, response = _word_qa(_WORD_TEMPLATES[index], synset)
            rows.append({"id": f"wn-{key}-q{q}", "prompt": prompt, "response": response, "category": synset["topic"],
                         "source": "wordnet", "group": f"wn-{key}"})
    return rows


def man_page_rows(dirs: tuple[str, ...] = MAN_DIRS) -> list[dict]:
    """One question per installed command page (first parse per command name wins, sorted by file name)."""
    rows, seen = [], set()
    for path in man_page_paths(dirs, "man"):
        page = read_man_page(path)
        if page is None or page["command"] in seen:
            continue
        seen.add(page["command"])
        template = _MAN_TEMPLATES[stable_hash("man-template", page["command"]) % len(_MAN_TEMPLATES)]
        summary = page["summary"][:1].lower() + page["summary"][1:]
        fields = {"c": page["command"], "s": summary, "d": page["description"]}
        rows.append({"id": f"man-{page['command']}", "prompt": template[0].format(**fields),
                     "response": template[1].format(**fields), "category": "command", "source": "man-pages",
                     "group": f"man-{page['command']}"})
        if len(rows) == MAX_MAN_PAGES:
            break
    return sorted(rows, key=lambda r: r["id"])


def benign_rows() -> list[dict]:
    """WordNet + man-page rows with unique prompt texts; `group` keeps a synset's questions together."""
    rows, prompts = [], set()
    for row in wordnet_rows() + man_page_rows():
        if row["prompt"] in prompts:
            continue
        prompts.add(row["prompt"])
        rows.append(row)
    return rows
