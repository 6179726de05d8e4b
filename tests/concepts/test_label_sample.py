"""bench.daco.label_sample: a seeded sheet of labelled concepts, marked by a person, scored as precision."""

import polars as pl
import pytest
import torch

from bench.daco.label_sample import SampleConfig, precision, read_marks, write_sample
from concepts import ConceptDictionary, save_dictionary
from curate.errors import ConfigError, InputError


def _dictionary(folder, labels):
    K = len(labels)
    concepts = pl.DataFrame({"concept_id": [f"c{i}" for i in range(K)], "name": [f"name {i}" for i in range(K)],
                             "synset": [""] * K, "gloss": [f"gloss | {i}" for i in range(K)], "group": ["g"] * K,
                             "label": labels, "n_pos": [4] * K, "n_neg": [4] * K})
    atoms = {1: torch.nn.functional.normalize(torch.randn(K, 8), dim=1)}
    save_dictionary(ConceptDictionary(layers=[1], atoms=atoms, concepts=concepts), folder)
    return folder


def _mark(path, marks: dict[str, str]):
    lines = []
    for line in path.read_text().splitlines():
        for row, mark in marks.items():
            if line.startswith(f"| {row} |  |"):
                line = line.replace(f"| {row} |  |", f"| {row} | {mark} |", 1)
        lines.append(line)
    path.write_text("\n".join(lines))


def test_draw_mark_and_score(tmp_path):
    folder = _dictionary(tmp_path / "dic", ["undesirable"] * 6 + ["desirable"] * 3 + ["neutral"] * 5)
    sheet = write_sample(SampleConfig(out=tmp_path / "s.md", dictionary=folder, undesirable=4, desirable=5, seed=1))
    text = sheet.read_text()
    assert "## undesirable: 4 of 6" in text and "## desirable: 3 of 3" in text  # at most what there is
    assert text == write_sample(SampleConfig(out=tmp_path / "t.md", dictionary=folder, undesirable=4, desirable=5,
                                             seed=1)).read_text()  # seeded
    assert "gloss \\| " in text  # a pipe in a gloss cannot break the table
    drawn = {line.split("|")[3].strip() for line in text.splitlines() if line.startswith("| u0")}
    assert len(drawn) == 4 and drawn <= {f"name {i}" for i in range(6)}
    _mark(sheet, {"u001": "y", "u002": "y", "u003": "n", "d001": "y"})
    marks = read_marks(sheet)
    assert len(marks) == 7
    table = precision(marks)
    assert table["undesirable"]["k"] == 2 and table["undesirable"]["n"] == 3 and table["undesirable"]["unmarked"] == 1
    assert table["undesirable"]["rate"] == pytest.approx(2 / 3) and table["undesirable"]["low"] < 2 / 3
    assert table["desirable"]["n"] == 1 and table["desirable"]["by_source"]["user list"]["k"] == 1


def test_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of --dictionary"):
        SampleConfig(out=tmp_path / "s.md")
    folder = _dictionary(tmp_path / "dic", ["undesirable"] * 3)
    sheet = write_sample(SampleConfig(out=tmp_path / "s.md", dictionary=folder))
    _mark(sheet, {"u001": "maybe"})
    with pytest.raises(InputError, match="mark 'maybe'; write y, n"):
        read_marks(sheet)
    (tmp_path / "other.md").write_text("# notes\n")
    with pytest.raises(InputError, match="no sample rows"):
        read_marks(tmp_path / "other.md")
