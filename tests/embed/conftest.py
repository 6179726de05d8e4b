"""Embed-stage fixtures: small corpora (the tiny model folders live in tests/conftest.py)."""

from __future__ import annotations

import json

import pytest


def sample_records(n: int, with_ids: bool = True) -> list[dict]:
    """Records of varied length (so length sorting reorders them) with a few null responses."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    rows = []
    for k in range(n):
        prompt = " ".join(words[(k + j) % len(words)] for j in range(1 + k % 7))
        row = {"prompt": f"q{k} {prompt}", "response": None if k % 5 == 0 else f"answer {k} " + "x" * (k % 13)}
        if with_ids:
            row["id"] = f"r{k:04d}"
        rows.append(row)
    return rows


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    """A 53-record JSONL file."""
    return write_jsonl(tmp_path / "corpus.jsonl", sample_records(53))
