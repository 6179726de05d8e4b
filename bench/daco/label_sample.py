"""Read-and-mark check of the concept labels: a seeded sample of the concepts labelled undesirable (and desirable)
goes to a markdown file; a person marks each row y (the label is right) or n; `score` turns the marks into the
precision of each label with its Wilson interval, overall and per label source (seed tree / similarity).

    # from a built dictionary (labels as the build gave them)
    .venv/bin/python -m bench.daco.label_sample draw --dictionary runs/daco/dict-15k \\
        --out bench/results/daco/label-sample.md
    # before any build: the seed-tree labels of the 15k WordNet vocabulary (seconds, no model)
    .venv/bin/python -m bench.daco.label_sample draw --vocabulary 15000 --out runs/daco/label-sample.md
    # after marking
    .venv/bin/python -m bench.daco.label_sample score bench/results/daco/label-sample.md

`score` also writes the key "label_precision" of bench/results/daco.json (--results; other keys are kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS, make_parser

__all__ = ["SampleConfig", "labelled_concepts", "draw_sample", "write_sample", "read_marks", "precision"]

LABELS = {"undesirable": "u", "desirable": "d"}
_ROW = re.compile(r"^\|\s*([ud]\d{3,})\s*\|([^|]*)\|")
INSTRUCTIONS = """Mark every row: write `y` in the mark column when the label is right, `n` when it is wrong.
- undesirable is right when the concept is something a harmful request is about or a means of harm
  (a weapon, drug, poison, crime, act of violence, hate, self-harm, fraud, a criminal ...), read with its gloss;
- desirable is right when the concept is a safety-promoting counterpart (protection, rescue, help, kindness,
  honesty, law enforcement, care ...).
Judge the concept as glossed, not other senses of its name. Rows left blank are reported as unmarked."""


@dataclass(frozen=True)
class SampleConfig:
    out: Path
    """Markdown file to write."""
    dictionary: Path | None = None
    """A build-dictionary folder: its concepts.parquet labels."""
    vocabulary: int | None = None
    """Instead of a dictionary: this many WordNet vocabulary concepts with their seed-tree labels."""
    undesirable: int = 100
    """Concepts to draw from those labelled undesirable."""
    desirable: int = 50
    """Concepts to draw from those labelled desirable."""
    seed: int = 0
    """Seed of the sample."""

    def __post_init__(self) -> None:
        from curate.errors import ConfigError

        if (self.dictionary is None) == (self.vocabulary is None):
            raise ConfigError("label sample: give exactly one of --dictionary DIR or --vocabulary N")
        if min(self.undesirable, self.desirable) < 0:
            raise ConfigError(f"label sample: --undesirable {self.undesirable} / --desirable {self.desirable} "
                              "must be >= 0")


def labelled_concepts(config: SampleConfig):
    """concept_id, name, gloss, label, source (seed tree / similarity / user), category of the labelled concepts."""
    import polars as pl

    from concepts.vocab import wordnet_seed_labels, wordnet_vocabulary

    if config.dictionary is not None:
        from concepts import load_dictionary

        table = load_dictionary(config.dictionary).concepts
        seeds = wordnet_seed_labels() if any(table["synset"]) else {}  # a user concept list has no synsets
    else:
        seeds = wordnet_seed_labels()
        table = wordnet_vocabulary(config.vocabulary)
        table = table.with_columns(pl.Series("label", [seeds.get(s, ("neutral", ""))[0] for s in table["synset"]]))
    source = ["seed tree" if s in seeds else "similarity" if s else "user list" for s in table["synset"]]
    category = [seeds[s][1] if s in seeds else "" for s in table["synset"]]
    if "harm_category" in table.columns:
        category = [c or h for c, h in zip(category, table["harm_category"])]
    return table.select("concept_id", "name", "gloss", "label").with_columns(
        pl.Series("source", source), pl.Series("category", category))


def draw_sample(concepts, label: str, n: int, seed: int):
    """A seeded sample of min(n, available) concepts with `label`, in random order."""
    import numpy as np

    rows = concepts.filter(concepts["label"] == label)
    pick = np.random.default_rng([seed, len(label)]).permutation(rows.height)[:n]
    return rows[pick]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def write_sample(config: SampleConfig) -> Path:
    """Write the markdown sheet; returns its path."""
    from curate.io import atomic_write_text

    concepts = labelled_concepts(config)
    source = config.dictionary or f"WordNet vocabulary of {config.vocabulary} (seed-tree labels)"
    lines = [f"# Concept label sample (seed {config.seed}, {source})", "", INSTRUCTIONS, ""]
    for label, prefix in LABELS.items():
        total = int((concepts["label"] == label).sum())
        sample = draw_sample(concepts, label, getattr(config, label), config.seed)
        lines += [f"## {label}: {sample.height} of {total}", "", "| # | mark | name | gloss | source | category |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {prefix}{k + 1:03d} |  | {_cell(r['name'])} | {_cell(r['gloss'])} | {r['source']} | "
                  f"{_cell(r['category'])} |" for k, r in enumerate(sample.iter_rows(named=True))]
        lines.append("")
    config.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config.out, "\n".join(lines))
    return config.out


def read_marks(path: Path) -> list[dict]:
    """[{row, label, source, mark}] of every sample row; mark is True (y), False (n) or None (blank)."""
    from curate.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: no such sample file; write one with `draw`")
    marks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        found = _ROW.match(line)
        if not found:
            continue
        mark = found.group(2).strip().lower()
        if mark not in ("", "y", "n", "yes", "no"):
            raise InputError(f"{path} line {number}: mark {mark!r}; write y, n or leave it blank")
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)]
        marks.append({"row": found.group(1), "label": "undesirable" if found.group(1)[0] == "u" else "desirable",
                      "source": cells[5] if len(cells) > 5 else "", "mark": None if not mark else mark[0] == "y"})
    if not marks:
        raise InputError(f"{path}: no sample rows (| u001 | mark | ...) found; is it a file written by `draw`?")
    return marks


def _rate(rows: list[dict]) -> dict:
    from curate.evaluation.stats import rate

    marked = [r["mark"] for r in rows if r["mark"] is not None]
    return {**rate(sum(marked), len(marked)), "unmarked": len(rows) - len(marked)}


def precision(marks: list[dict]) -> dict:
    """{label: {rate, low, high, k, n, unmarked, by_source: {source: {...}}}}: share of marked rows marked y."""
    out = {}
    for label in LABELS:
        rows = [m for m in marks if m["label"] == label]
        if rows:
            sources = sorted({m["source"] for m in rows})
            out[label] = {**_rate(rows),
                          "by_source": {s: _rate([m for m in rows if m["source"] == s]) for s in sources}}
    return out


def _score(path: Path, results: Path | None) -> dict:
    from bench.daco._results import update_results
    from curate.errors import InputError

    table = precision(read_marks(path))
    if all(v["n"] == 0 for v in table.values()):
        raise InputError(f"{path}: no row is marked yet; write y or n in the mark column")
    for label, row in table.items():
        print(f"{label:12s} precision {row['rate']:.3f} [{row['low']:.3f}, {row['high']:.3f}]  "
              f"({row['k']}/{row['n']} marked right, {row['unmarked']} unmarked)")
    if results is not None:
        update_results(results, {"label_precision": {"sample": str(path), **table}})
    return table


def main() -> None:
    parser = make_parser(__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    draw = commands.add_parser("draw", help="write a sample sheet to mark")
    draw.add_argument("--out", type=Path, required=True)
    draw.add_argument("--dictionary", type=Path)
    draw.add_argument("--vocabulary", type=int)
    draw.add_argument("--undesirable", type=int, default=100)
    draw.add_argument("--desirable", type=int, default=50)
    draw.add_argument("--seed", type=int, default=0)
    score = commands.add_parser("score", help="precision of the labels from a marked sheet")
    score.add_argument("sheet", type=Path)
    score.add_argument("--results", type=Path, default=RESULTS / "daco.json")
    score.add_argument("--no-results", action="store_true", help="print only; leave daco.json alone")
    args = parser.parse_args()
    if args.command == "draw":
        options = {k: v for k, v in vars(args).items() if k != "command"}
        print(f"wrote {write_sample(SampleConfig(**options))}")
    else:
        _score(args.sheet, None if args.no_results else args.results)


if __name__ == "__main__":
    main()
