"""The benign sources on fake WordNet synsets and man pages: which synsets and pages benign-qa and the SOT family's
benign tasks take, in which order, and the text they make of them (pinned, so that a refactor keeps every row)."""

from __future__ import annotations

import pytest

from curate.datasets import _benign, manpages, sot_tasks, wordnet

SYNSETS = [  # (offset, word, topic, definition, count): frequent first after sorting, ties by offset
    (5, "bank", "artifact", "a building where money is kept", 40),
    (3, "apple", "food", "fruit with red or yellow skin", 40),
    (9, "Paris", "location", "the capital of France", 90),  # capitalised: skipped
    (4, "ox", "animal", "a large bovine animal", 80),  # shorter than 3 letters: skipped
    (7, "bank", "location", "sloping land beside water", 30),  # a head word taken already: skipped
    (2, "idea", "cognition", "a thought", 20),
    (8, "oak", "plant", "a tree", 25),  # definition shorter than 8 characters: skipped
    (6, "umbrella", "artifact", "a canopy that keeps rain off", 10),
    (1, "contempt", "feeling", "lack of respect for something", 5),
]
PAGES = {  # file name -> (command, summary) or None (a page the reader cannot parse)
    "tar.1.gz": ("tar", "An archiving utility"), "tar.8.gz": ("tar", "store files (second page)"),
    "grep.1.gz": ("grep", "print lines that match patterns"), "Xorg.1.gz": ("Xorg", "X server"),
    "ls.1.gz": ("ls", "list directory contents"), "broken.1.gz": None,
    "cat.1.gz": ("cat", "concatenate files and print on the `standard` output"),
    "cat.8.gz": ("cat", "concatenate files"), "gcloud-x.1.gz": ("gcloud", "not a page we read"),
    "sed.8.gz": ("sed", "stream editor for filtering and transforming text in a very long and winding summary"),
    "sed.1.gz": ("sed", "stream editor"),
}


def _synset(offset, word, topic, definition, count) -> dict:
    return {"offset": offset, "word": word, "topic": topic, "definition": definition, "count": count,
            "examples": [f"the {word} is here"] if offset % 2 else []}


@pytest.fixture
def fake_sources(monkeypatch, tmp_path):
    def read_noun_synsets(min_count: int = 1) -> list[dict]:
        return [_synset(*s) for s in SYNSETS]

    def read_man_page(path):
        page = PAGES[path.name]
        return None if page is None else {"command": page[0], "summary": page[1],
                                          "description": f"The {page[0]} program."}

    dirs = (tmp_path / "man1", tmp_path / "man8")
    for folder in dirs:
        folder.mkdir()
    for name in PAGES:
        (dirs[0] if ".1." in name else dirs[1]).joinpath(name).write_text("")
    for module in (_benign, wordnet):
        monkeypatch.setattr(module, "read_noun_synsets", read_noun_synsets, raising=False)
    for module in (_benign, manpages):
        monkeypatch.setattr(module, "read_man_page", read_man_page, raising=False)
    monkeypatch.setattr(_benign, "MAN_DIRS", tuple(str(d) for d in dirs))
    monkeypatch.setattr(_benign, "MAX_SYNSETS", 3)
    monkeypatch.setattr(sot_tasks, "COMMON_NOUNS_SKIPPED", 1)
    return tuple(str(d) for d in dirs)


def test_wordnet_rows_take_the_most_frequent_distinct_lower_case_nouns(fake_sources):
    rows = _benign.wordnet_rows()
    assert [(r["id"], r["prompt"], r["response"]) for r in rows] == [
        ("wn-00000003-q1", "Define the word 'apple'.",
         'Apple (noun): fruit with red or yellow skin. For example: "the apple is here".'),
        ("wn-00000003-q2", "Explain what an apple is.",
         'An apple is fruit with red or yellow skin. For example: "the apple is here".'),
        ("wn-00000005-q1", "Define the word 'bank'.",
         'Bank (noun): a building where money is kept. For example: "the bank is here".'),
        ("wn-00000005-q2", "Can you tell me what 'bank' refers to?",
         '\'Bank\' refers to a building where money is kept. For example: "the bank is here".'),
        ("wn-00000002-q1", "In simple terms, what is an idea?", "In simple terms, an idea is a thought."),
        ("wn-00000002-q2", "What is the meaning of the noun 'idea'?", "As a noun, 'idea' means a thought."),
    ]
    assert [r["group"] for r in rows] == ["wn-00000003"] * 2 + ["wn-00000005"] * 2 + ["wn-00000002"] * 2


def test_man_page_rows_take_the_first_parse_of_each_command(fake_sources):
    rows = _benign.man_page_rows(fake_sources)
    assert [(r["id"], r["prompt"], r["response"]) for r in rows] == [
        ("man-Xorg", "Describe what the `Xorg` program is for.",
         "The `Xorg` program is described as: x server. The Xorg program."),
        ("man-cat", "What is `cat` used for on Linux?",
         "`cat` (concatenate files and print on the `standard` output). The cat program."),
        ("man-grep", "What is `grep` used for on Linux?",
         "`grep` (print lines that match patterns). The grep program."),
        ("man-ls", "Explain the `ls` command briefly.", "`ls`: list directory contents. The ls program."),
        ("man-sed", "What is `sed` used for on Linux?",
         "`sed` (stream editor for filtering and transforming text in a very long and winding summary). The sed "
         "program."),
        ("man-tar", "Explain the `tar` command briefly.", "`tar`: store files (second page). The tar program."),
    ]


def test_sot_benign_topics_skip_the_most_common_nouns_and_unfit_pages(fake_sources):
    """The SOT tasks take the first page of a command that passes their filters (cat, sed: not the first parse)."""
    assert [s["offset"] for s in sot_tasks._word_synsets()] == [5, 2, 6, 1]
    assert [(p["command"], p["summary"]) for p in sot_tasks._man_pages()] == [
        ("grep", "print lines that match patterns"), ("cat", "concatenate files"), ("ls", "list directory contents"),
        ("tar", "An archiving utility"), ("sed", "stream editor")]


def test_sot_word_tasks(fake_sources):
    tasks = {(s["offset"], style): sot_tasks._word_task(s, style) for s in sot_tasks._word_synsets()
             for style in ("instruction", "question")}
    assert tasks == {
        (1, "instruction"): "provide a list of the main facts about contempt that a museum visitor might want",
        (1, "question"): "Do you know what contempt is and where it is found?",
        (2, "instruction"): "teach me about idea step by step, starting from the basics",
        (2, "question"): "What should I know about idea before discussing it?",
        (5, "instruction"): "develop a plan for a school science project about a bank",
        (5, "question"): "Could you describe a bank in a few sentences for my homework?",
        (6, "instruction"): "provide a list of the main facts about an umbrella that a museum visitor might want",
        (6, "question"): "What is an umbrella, and why does it matter?",
    }
