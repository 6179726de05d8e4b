"""Benign instruction-style Q/A from WordNet glosses and man-page descriptions (real human-written text)."""

from __future__ import annotations

from pathlib import Path

from curate.datasets._keys import stable_hash
from curate.datasets.manpages import read_man_page
from curate.datasets.wordnet import read_noun_synsets

__all__ = ["wordnet_rows", "man_page_rows", "benign_rows", "MAX_SYNSETS", "MAX_MAN_PAGES"]

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


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _word_qa(template: tuple[str, str], synset: dict) -> tuple[str, str]:
    word, definition = synset["word"], synset["definition"]
    example = f' For example: "{synset["examples"][0]}".' if synset["examples"] else ""
    fields = {"w": word, "W": word[:1].upper() + word[1:], "a": _article(word), "A": _article(word).capitalize(),
              "d": definition.rstrip("."), "ex": example}
    return template[0].format(**fields), template[1].format(**fields)


def wordnet_rows() -> list[dict]:
    """Two questions for each of the MAX_SYNSETS most frequent nouns (one synset per head word)."""
    synsets = sorted(read_noun_synsets(), key=lambda s: (-s["count"], s["offset"]))
    chosen, seen = [], set()
    for synset in synsets:
        word = synset["word"]
        if word in seen or not word.islower() or len(word) < 3 or len(synset["definition"]) < 8:
            continue
        seen.add(word)
        chosen.append(synset)
        if len(chosen) == MAX_SYNSETS:
            break
    rows = []
    for synset in chosen:
        key = f"{synset['offset']:08d}"
        first = stable_hash("wn-template", key) % len(_WORD_TEMPLATES)
        for q, index in enumerate((first, (first + 1 + stable_hash("wn-second", key) % 5) % len(_WORD_TEMPLATES)), 1):
            prompt, response = _word_qa(_WORD_TEMPLATES[index], synset)
            rows.append({"id": f"wn-{key}-q{q}", "prompt": prompt, "response": response, "category": synset["topic"],
                         "source": "wordnet", "group": f"wn-{key}"})
    return rows


def man_page_rows(dirs: tuple[str, ...] = MAN_DIRS) -> list[dict]:
    """One question per installed command page (first parse per command name wins, sorted by file name)."""
    paths = sorted(p for d in dirs for p in Path(d).glob("*") if p.is_file() and not p.name.startswith("gcloud"))
    paths = sorted(paths, key=lambda p: (stable_hash("man", p.name), p.name))
    rows, seen = [], set()
    for path in paths:
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
