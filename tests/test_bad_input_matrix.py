"""Every command × every kind of bad input: exit 2, one line naming the input and the fix, nothing left that looks
finished, and no model loaded (issue 14, "make it systematic").

The CLI runs in-process (`curate.cli.main`) on tiny inputs in tmp_path. Loading a model (`curate.models.
load_causal_lm`, `load_text_encoder`, the SmolLM2 conversion) raises "heavy work started", so a check that only
happens after the model is loaded fails here. `MATRIX` lists every (command, kind) pair: a case builder, or the
reason why that kind of bad input does not apply to that command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

COMMANDS = ("models", "datasets build", "embed", "sot-weight", "export", "eval", "judge", "generate", "train sft",
            "train mosaic", "train cast", "train sae", "build-dictionary", "steer", "diagnose-heads")
KINDS = ("missing file", "empty file", "corrupt parquet", "corrupt safetensors", "corrupt jsonl", "wrong columns",
         "directory for file", "file for directory", "unwritable output", "nan or inf", "out of range")
UNWRITABLE = Path("/proc")  # creating anything there fails, for root too (a chmod'ed folder does not stop root)
ROWS = [{"id": f"r{i}", "prompt": f"question {i}?", "response": f"answer {i}.", "category": "a" if i % 2 else None}
        for i in range(6)]


@dataclass
class Case:
    argv: list[str]
    """The command line after `curate`."""
    needles: tuple[str, ...]
    """What the one-line message must contain: the bad input (path or option) and the fix."""
    outputs: tuple[Path, ...] = ()
    """Where the command would write; none of these may look finished afterwards."""


@dataclass
class Workspace:
    """tmp_path plus the tiny shared inputs a case builds its bad one next to."""

    root: Path
    lm: Path
    text_model: Path
    made: list[Path] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.root / name

    def jsonl(self, name: str, rows: list[dict] = ROWS) -> Path:
        path = self.path(name)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    def parquet(self, name: str, columns: dict | None = None) -> Path:
        path = self.path(name)
        pq.write_table(pa.table(columns or {k: [r[k] for r in ROWS] for k in ROWS[0]}), path)
        return path

    def empty(self, name: str) -> Path:
        path = self.path(name)
        path.write_bytes(b"")
        return path

    def folder(self, name: str) -> Path:
        path = self.path(name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def text_file(self, name: str) -> Path:
        path = self.path(name)
        path.write_text("not a folder\n")
        return path

    def weighted(self, name: str = "weighted.parquet", weights: list[float] | None = None) -> Path:
        w = weights or [1.0, 0.5, 2.0, 1.0, 0.5, 1.0]
        columns = {k: [r[k] for r in ROWS] for k in ("id", "prompt", "response")}
        return self.parquet(name, {**columns, "sot_weight": w, "keep": [x >= 1 for x in w]})

    def dictionary(self, name: str = "dict", labels: list[str] | None = None) -> Path:
        from tests.train.sae_fixtures import planted_atoms, write_dictionary

        labels = labels or ["undesirable", "desirable"] + ["neutral"] * 6
        return write_dictionary(self.path(name), planted_atoms(len(labels), 32), labels, layer=1)

    def activations(self, name: str = "acts", vectors: np.ndarray | None = None) -> Path:
        from tests.train.sae_fixtures import planted_activations, planted_atoms, write_activation_folder

        vectors = planted_activations(planted_atoms(8, 32), 200) if vectors is None else vectors
        return write_activation_folder(self.path(name), vectors, layer=1)

    def embeddings(self, name: str, vectors: np.ndarray) -> Path:
        """A finished embedding folder (as `curate embed` writes it) holding these vectors."""
        from tests.train.sae_fixtures import write_activation_folder

        return write_activation_folder(self.path(name), vectors.astype(np.float32), layer=1, tokens_per_record=1)

    def conflict_map(self, name: str = "cmap") -> Path:
        folder = self.folder(name)
        pq.write_table(pa.table({"layer": [0, 0], "head": [0, 1], "conflict": [0.5, 0.1], "sensitivity": [1.0, 2.0],
                                 "score": [1.0, 2.0], "rank": [1, 2]}), folder / "conflict_map.parquet")
        (folder / "manifest.json").write_text(json.dumps({"model": "tiny", "layers": 2, "heads": 4}))
        return folder

    def controls(self, name: str = "controls") -> Path:
        import torch
        from safetensors.torch import save

        folder = self.folder(name)
        (folder / "control_tokens.safetensors").write_bytes(save({"a": torch.zeros(2, 32)}))
        (folder / "control_tokens.json").write_text(json.dumps({"tokens_per_category": 2, "hidden_size": 32,
                                                                "categories": ["a"]}))
        return folder


def corrupt(path: Path) -> Path:
    """Keep the first half of the file, cut inside a line: a truncated download or a killed writer."""
    data = path.read_bytes()
    cut = len(data) // 2
    while data[cut - 1:cut] in (b"\n", b"}"):  # a cut at the end of a JSON line would leave whole lines
        cut -= 1
    path.write_bytes(data[:cut])
    return path


def unwritable(name: str) -> Path:
    return UNWRITABLE / f"curate-matrix-{name}"


# --- one builder per (command, kind) ------------------------------------------------------------------------
# Each returns a Case; `w` is the Workspace. Options that only make the tiny run fast come from BASE.

def _datasets(w: Workspace, out: Path, name: str = "safe-anchor") -> list[str]:
    return ["datasets", "build", name, "--out", str(out)]


def _embed(w: Workspace, data: Path | str, out: Path | None = None, *extra: str) -> list[str]:
    return ["embed", str(data), "--out", str(out or w.path("emb")), "--model", str(w.text_model), "--no-progress",
            *extra]


def _sot(w: Workspace, data: Path | str, out: Path | None = None, *extra: str) -> list[str]:
    safe = w.embeddings("safe", np.eye(4, 8)[[0, 1, 2, 3, 0, 1]] + 0.1)
    harmful = w.embeddings("harmful", np.eye(4, 8)[[3, 2, 3, 2, 3, 2]] + 0.1)
    return ["sot-weight", "--data", str(data), "--safe", str(safe), "--harmful", str(harmful), "--out",
            str(out or w.path("w.parquet")), "--model", str(w.text_model), "--no-progress", *extra]


def _export(w: Workspace, data: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["export", str(data), "--out", str(out or w.path("export.jsonl")), *extra]


def _eval(w: Workspace, prompts: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["eval", "--model", str(w.lm), "--prompts", str(prompts), "--out", str(out or w.path("eval")),
            "--no-progress", *extra]


def _judge(w: Workspace, data: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["judge", str(data), "--out", str(out or w.path("judged.parquet")), *extra]


def _generate(w: Workspace, *extra: str) -> list[str]:
    return ["generate", "--model", str(w.lm), "--prompt", "hi", "--max-new-tokens", "2", *extra]


def _sft(w: Workspace, data: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["train", "sft", "--data", str(data), "--out", str(out or w.path("sft")), "--model", str(w.lm),
            "--max-steps", "1", "--no-progress", *extra]


def _mosaic(w: Workspace, data: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["train", "mosaic", "--data", str(data), "--out", str(out or w.path("mosaic")), "--model", str(w.lm),
            "--epochs", "1", "--no-progress", *extra]


def _cast(w: Workspace, cmap: Path, out: Path | None = None, *extra: str, data: Path | None = None) -> list[str]:
    return ["train", "cast", "--data", str(data or w.jsonl("rows.jsonl")), "--conflict-map", str(cmap), "--out",
            str(out or w.path("cast")), "--model", str(w.lm), "--max-steps", "1", "--no-progress", *extra]


def _sae(w: Workspace, acts: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["train", "sae", "--activations", str(acts), "--out", str(out or w.path("sae")), "--k", "2",
            "--expansion", "2", "--steps", "2", "--batch-size", "64", "--buffer-rows", "128", "--no-progress",
            *extra]


def _build(w: Workspace, concepts: Path | str, out: Path | None = None, *extra: str) -> list[str]:
    return ["build-dictionary", "--concepts", str(concepts), "--out", str(out or w.path("built")), "--model",
            str(w.lm), "--layers", "1", "--no-progress", *extra]


def _steer(w: Workspace, dictionary: Path, *extra: str) -> list[str]:
    return ["steer", "--dictionary", str(dictionary), "--prompt", "hi", "--model", str(w.lm), *extra]


def _diagnose(w: Workspace, safe: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["diagnose-heads", "--safe", str(safe), "--util", str(w.jsonl("util.jsonl")), "--out",
            str(out or w.path("cmap-out")), "--model", str(w.lm), "--batches", "1", "--batch-size", "2",
            "--no-progress", *extra]


def _case(argv: list[str], *needles: str, outputs: tuple[Path, ...] = ()) -> Case:
    return Case(argv, tuple(needles), outputs)


Builder = Callable[[Workspace], Case]
NO_INPUT_FILE = "takes no input file: the dataset comes from the package by name"
NO_OUTPUT = "writes no file: it prints its answers"
TEXT_ONLY = "reads text only: no numeric values to be NaN"

MATRIX: dict[tuple[str, str], Builder | str] = {}


def cases(command: str, table: dict[str, Builder | str]) -> None:
    for kind in KINDS:
        MATRIX[(command, kind)] = table.get(kind, "no such input: " + kind)


cases("models", {kind: "takes no input and writes no output (lists the registry)" for kind in KINDS})

cases("datasets build", {
    "missing file": lambda w: _case(_datasets(w, w.path("x.parquet"), "no-such-set"), "'no-such-set' is not a dataset",
                                    "valid names"),
    "empty file": NO_INPUT_FILE, "corrupt parquet": NO_INPUT_FILE, "corrupt safetensors": NO_INPUT_FILE,
    "corrupt jsonl": NO_INPUT_FILE, "wrong columns": NO_INPUT_FILE, "nan or inf": NO_INPUT_FILE,
    "directory for file": lambda w: _case(_datasets(w, w.folder("d.parquet")), "d.parquet", "exists",
                                          "--overwrite"),
    "file for directory": lambda w: _case(_datasets(w, w.text_file("notes.txt") / "x.parquet"),
                                          "notes.txt is a file, not a folder", "choose an --out"),
    "unwritable output": lambda w: _case(_datasets(w, unwritable("ds.parquet")), "cannot write in /proc",
                                         "choose a writable location"),
    "out of range": "has no numeric option (a --split other than train/heldout/all is click's usage error)",
})

cases("embed", {
    "missing file": lambda w: _case(_embed(w, w.path("nope.jsonl")), "nope.jsonl", "does not exist"),
    "empty file": lambda w: _case(_embed(w, w.empty("empty.jsonl")), "empty.jsonl", "empty"),
    "corrupt parquet": lambda w: _case(_embed(w, corrupt(w.parquet("rows.parquet"))), "rows.parquet"),
    "corrupt safetensors": "reads tables (JSONL, Parquet, CSV), not tensors",
    "corrupt jsonl": lambda w: _case(_embed(w, corrupt(w.jsonl("rows.jsonl"))), "rows.jsonl", "malformed JSON",
                                     "--on-error skip"),
    "wrong columns": lambda w: _case(_embed(w, w.jsonl("rows.jsonl", [{"text": "x"}])), "rows.jsonl",
                                     "--prompt-field"),
    "directory for file": lambda w: _case(_embed(w, w.folder("plain")), "plain"),
    "file for directory": lambda w: _case(_embed(w, w.jsonl("rows.jsonl"), w.text_file("emb.txt")), "emb.txt",
                                          "is a file but a folder is written there"),
    "unwritable output": lambda w: _case(_embed(w, w.jsonl("rows.jsonl"), unwritable("emb")),
                                         "cannot write in /proc"),
    "nan or inf": TEXT_ONLY,
    "out of range": lambda w: _case([*_embed(w, w.jsonl("rows.jsonl")), "--batch-size", "0"], "--batch-size 0",
                                    "at least 1"),
})

cases("sot-weight", {
    "missing file": lambda w: _case(_sot(w, w.path("nope.jsonl")), "nope.jsonl", "does not exist"),
    "empty file": lambda w: _case(_sot(w, w.empty("empty.jsonl")), "empty.jsonl"),
    "corrupt parquet": lambda w: _case(_sot(w, corrupt(w.parquet("rows.parquet"))), "rows.parquet"),
    "corrupt safetensors": "reads tables and embedding folders (Parquet shards), not tensors",
    "corrupt jsonl": lambda w: _case(_sot(w, corrupt(w.jsonl("rows.jsonl"))), "rows.jsonl", "malformed JSON"),
    "wrong columns": lambda w: _case(_sot(w, w.jsonl("rows.jsonl", [{"text": "x"}] * 3)), "rows.jsonl",
                                     "prompt"),
    "directory for file": lambda w: _case(_sot(w, w.jsonl("rows.jsonl"), w.folder("w.parquet")), "w.parquet",
                                          "exists", "--overwrite"),
    # the repro: curate sot-weight --out data/small.jsonl/x.parquet
    "file for directory": lambda w: _case(_sot(w, w.jsonl("small.jsonl"), w.path("small.jsonl") / "x.parquet"),
                                          "small.jsonl is a file, not a folder", "choose an --out"),
    "unwritable output": lambda w: _case(_sot(w, w.jsonl("rows.jsonl"), unwritable("x.parquet")),
                                         "/proc/curate-matrix-x.parquet", "cannot write in /proc"),
    "nan or inf": lambda w: _case(_sot(w, w.embeddings("corpus", _with_nan(np.eye(4, 8)[[0, 1, 2, 3, 0, 1]]))),
                                  "NaN/inf", "--on-error skip"),
    "out of range": lambda w: _case([*_sot(w, w.jsonl("rows.jsonl")), "--tau", "0"], "--tau must be > 0",
                                    "0.1 is the default"),
})


def _with_nan(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32) + 0.1
    x[2] = np.nan
    return x


cases("export", {
    "missing file": lambda w: _case(_export(w, w.path("nope.parquet")), "nope.parquet", "does not exist"),
    "empty file": lambda w: _case(_export(w, w.empty("w.parquet")), "w.parquet", "is empty", "rerun"),
    "corrupt parquet": lambda w: _case(_export(w, corrupt(w.weighted())), "weighted.parquet",
                                       "not a readable Parquet"),
    "corrupt safetensors": "reads one Parquet file",
    "corrupt jsonl": "reads the Parquet written by `curate sot-weight`, not JSONL",
    "wrong columns": lambda w: _case(_export(w, w.parquet("rows.parquet")), "rows.parquet", "'sot_weight'",
                                     "curate sot-weight"),
    "directory for file": lambda w: _case(_export(w, w.folder("runs")), "runs", "is a folder"),
    "file for directory": lambda w: _case(_export(w, w.weighted(), w.text_file("notes.txt") / "x.jsonl"),
                                          "notes.txt is a file, not a folder"),
    "unwritable output": lambda w: _case(_export(w, w.weighted(), unwritable("x.jsonl")), "cannot write in /proc"),
    "nan or inf": lambda w: _case(_export(w, w.weighted(weights=[1.0, float("nan"), 1, 1, 1, 1]), None, "--mode",
                                          "resample"), "sot_weight of row 1 is nan", "finite weights"),
    "out of range": lambda w: _case([*_export(w, w.weighted()), "--mode", "resample", "--n", "0"], "--n must be ≥ 1"),
})

cases("eval", {
    "missing file": lambda w: _case(_eval(w, w.path("nope.jsonl")), "nope.jsonl", "does not exist"),
    "empty file": lambda w: _case(_eval(w, w.empty("empty.jsonl")), "empty.jsonl"),
    "corrupt parquet": lambda w: _case(_eval(w, corrupt(w.parquet("prompts.parquet"))), "prompts.parquet"),
    "corrupt safetensors": lambda w: _case([*_eval(w, w.jsonl("prompts.jsonl")), "--steer",
                                            str(_dictionary_truncated(w.dictionary()))], "dictionary.safetensors",
                                           "not a readable"),
    "corrupt jsonl": lambda w: _case(_eval(w, corrupt(w.jsonl("prompts.jsonl"))), "prompts.jsonl",
                                     "malformed JSON"),
    "wrong columns": lambda w: _case(_eval(w, w.jsonl("prompts.jsonl", [{"text": "x"}])), "prompts.jsonl",
                                     "--prompt-field"),
    "directory for file": lambda w: _case(_eval(w, w.folder("plain")), "plain"),
    "file for directory": lambda w: _case(_eval(w, w.jsonl("prompts.jsonl"), w.text_file("eval.txt")), "eval.txt",
                                          "is a file but a folder is written there"),
    "unwritable output": lambda w: _case(_eval(w, w.jsonl("prompts.jsonl"), unwritable("eval")),
                                         "cannot write in /proc"),
    "nan or inf": TEXT_ONLY,
    "out of range": lambda w: _case([*_eval(w, w.jsonl("prompts.jsonl")), "--max-new-tokens", "0"],
                                    "--max-new-tokens 0", ">= 1"),
})

cases("judge", {
    "missing file": lambda w: _case(_judge(w, w.path("nope.jsonl")), "nope.jsonl", "does not exist"),
    "empty file": lambda w: _case(_judge(w, w.empty("empty.jsonl")), "empty.jsonl"),
    "corrupt parquet": lambda w: _case(_judge(w, corrupt(w.parquet("answers.parquet"))), "answers.parquet"),
    "corrupt safetensors": "its judge file is JSON; rows are tables",
    "corrupt jsonl": lambda w: _case(_judge(w, corrupt(w.jsonl("answers.jsonl"))), "answers.jsonl",
                                     "malformed JSON"),
    "wrong columns": lambda w: _case(_judge(w, w.jsonl("answers.jsonl", [{"prompt": "p", "text": "t"}])),
                                     "answers.jsonl", "--response-field"),
    "directory for file": lambda w: _case(_judge(w, w.jsonl("answers.jsonl"), w.folder("judged.parquet")),
                                          "judged.parquet", "--overwrite"),
    "file for directory": lambda w: _case(_judge(w, w.jsonl("answers.jsonl"), w.text_file("n.txt") / "j.parquet"),
                                          "n.txt is a file, not a folder"),
    "unwritable output": lambda w: _case(_judge(w, w.jsonl("answers.jsonl"), unwritable("j.parquet")),
                                         "cannot write in /proc"),
    "nan or inf": TEXT_ONLY,
    "out of range": "has no numeric options",
})

cases("generate", {
    "missing file": lambda w: _case(_generate(w, "--controls", str(w.path("nope"))), "--controls", "nope"),
    "empty file": lambda w: _case(_generate(w, "--controls", str(_emptied(w.controls()))), "control_tokens",
                                  "is empty"),
    "corrupt parquet": "reads no Parquet (prompts are options)",
    "corrupt safetensors": lambda w: _case(_generate(w, "--controls", str(_truncated(w.controls()))),
                                           "control_tokens.safetensors", "not a readable safetensors"),
    "corrupt jsonl": "reads no JSONL (prompts are options)",
    "wrong columns": "reads no table",
    "directory for file": NO_OUTPUT,
    "file for directory": lambda w: _case(_generate(w, "--controls", str(w.text_file("controls.txt"))),
                                          "controls.txt"),
    "unwritable output": NO_OUTPUT,
    "nan or inf": "reads no numeric data",
    "out of range": lambda w: _case(_generate(w, "--max-new-tokens", "0"), "--max-new-tokens 0", ">= 1"),
})


def _emptied(controls: Path) -> Path:
    (controls / "control_tokens.safetensors").write_bytes(b"")
    return controls


def _truncated(controls: Path) -> Path:
    corrupt(controls / "control_tokens.safetensors")
    return controls


cases("train sft", {
    "missing file": lambda w: _case(_sft(w, w.path("nope.jsonl")), "nope.jsonl", "does not exist"),
    "empty file": lambda w: _case(_sft(w, w.empty("empty.jsonl")), "empty.jsonl"),
    "corrupt parquet": lambda w: _case(_sft(w, corrupt(w.parquet("rows.parquet"))), "rows.parquet"),
    "corrupt safetensors": "reads a table; the model is a registry name or folder",
    "corrupt jsonl": lambda w: _case(_sft(w, corrupt(w.jsonl("rows.jsonl"))), "rows.jsonl", "malformed JSON"),
    "wrong columns": lambda w: _case(_sft(w, w.jsonl("rows.jsonl", [{"text": "x"}])), "rows.jsonl",
                                     "--prompt-field"),
    "directory for file": lambda w: _case(_sft(w, w.folder("plain")), "plain"),
    "file for directory": lambda w: _case(_sft(w, w.jsonl("rows.jsonl"), w.text_file("sft.txt")), "sft.txt",
                                          "is a file but a folder is written there"),
    "unwritable output": lambda w: _case(_sft(w, w.jsonl("rows.jsonl"), unwritable("sft")), "cannot write in /proc"),
    "nan or inf": lambda w: _case(_sft(w, w.parquet("rows.parquet", {**{k: [r[k] for r in ROWS] for k in
                                                                        ("prompt", "response")},
                                                                     "sot_weight": [1, 2, np.inf, 1, 1, 1]}),
                                       None, "--weight-column", "sot_weight"), "--weight-column sot_weight",
                                  "NaN or infinite"),
    "out of range": lambda w: _case([*_sft(w, w.jsonl("rows.jsonl")), "--lr", "0"], "--lr 0", "must be > 0"),
})

cases("train mosaic", {
    "missing file": lambda w: _case(_mosaic(w, w.path("nope.jsonl")), "nope.jsonl", "does not exist"),
    "empty file": lambda w: _case(_mosaic(w, w.empty("empty.jsonl")), "empty.jsonl"),
    "corrupt parquet": lambda w: _case(_mosaic(w, corrupt(w.parquet("rows.parquet"))), "rows.parquet"),
    "corrupt safetensors": lambda w: _case([*_mosaic(w, w.jsonl("rows.jsonl")), "--init-from",
                                            str(_truncated(w.controls()))], "control_tokens.safetensors"),
    "corrupt jsonl": lambda w: _case(_mosaic(w, corrupt(w.jsonl("rows.jsonl"))), "rows.jsonl", "malformed JSON"),
    "wrong columns": lambda w: _case(_mosaic(w, w.jsonl("rows.jsonl", [{"prompt": "x"}])), "rows.jsonl",
                                     "--category-field"),
    "directory for file": lambda w: _case(_mosaic(w, w.folder("plain")), "plain"),
    "file for directory": lambda w: _case(_mosaic(w, w.jsonl("rows.jsonl"), w.text_file("m.txt")), "m.txt",
                                          "is a file but a folder is written there"),
    "unwritable output": lambda w: _case(_mosaic(w, w.jsonl("rows.jsonl"), unwritable("mosaic")),
                                         "cannot write in /proc"),
    "nan or inf": lambda w: _case([*_mosaic(w, w.jsonl("rows.jsonl")), "--lambda", "nan"], "nan",
                                  "finite number"),
    "out of range": lambda w: _case([*_mosaic(w, w.jsonl("rows.jsonl")), "--tokens-per-category", "0"],
                                    "--tokens-per-category 0", ">= 1"),
})

cases("train cast", {
    "missing file": lambda w: _case(_cast(w, w.path("nope")), "--conflict-map", "nope", "curate diagnose-heads"),
    "empty file": lambda w: _case(_cast(w, _map_emptied(w.conflict_map())), "conflict_map.parquet", "is empty"),
    "corrupt parquet": lambda w: _case(_cast(w, _map_truncated(w.conflict_map())), "conflict_map.parquet",
                                       "not a readable Parquet"),
    "corrupt safetensors": "reads a table and a conflict-map folder (Parquet + JSON)",
    "corrupt jsonl": lambda w: _case(_cast(w, w.conflict_map(), data=corrupt(w.jsonl("rows.jsonl"))),
                                     "rows.jsonl", "malformed JSON"),
    "wrong columns": lambda w: _case(_cast(w, w.conflict_map(), data=w.jsonl("rows.jsonl", [{"text": "x"}])),
                                     "rows.jsonl", "--prompt-field"),
    "directory for file": lambda w: _case(_cast(w, w.conflict_map(), data=w.folder("plain")), "plain"),
    "file for directory": lambda w: _case(_cast(w, w.text_file("cmap.txt")), "cmap.txt"),
    "unwritable output": lambda w: _case(_cast(w, w.conflict_map(), unwritable("cast")), "cannot write in /proc"),
    "nan or inf": lambda w: _case([*_cast(w, w.conflict_map()), "--skip-fraction", "nan"], "nan", "finite"),
    "out of range": lambda w: _case([*_cast(w, w.conflict_map()), "--skip-fraction", "1.5"],
                                    "--skip-fraction 1.5", "(0, 1)"),
})


def _map_emptied(folder: Path) -> Path:
    (folder / "conflict_map.parquet").write_bytes(b"")
    return folder


def _map_truncated(folder: Path) -> Path:
    corrupt(folder / "conflict_map.parquet")
    return folder


def _shard_truncated(folder: Path) -> Path:
    corrupt(folder / "part-00000.parquet")
    return folder


def _shard_renamed(folder: Path) -> Path:
    shard = folder / "part-00000.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.rename_columns(["id", "vector", "token_index"]), shard)
    return folder


cases("train sae", {
    "missing file": lambda w: _case(_sae(w, w.path("nope")), "--activations", "nope", "curate embed"),
    "empty file": lambda w: _case(_sae(w, w.activations(vectors=np.zeros((0, 32), np.float32))), "0 rows",
                                  "non-empty input"),
    "corrupt parquet": lambda w: _case(_sae(w, _shard_truncated(w.activations())), "part-00000.parquet"),
    "corrupt safetensors": lambda w: _case([*_sae(w, w.activations()), "--dictionary",
                                            str(_dictionary_truncated(w.dictionary()))], "dictionary.safetensors"),
    "corrupt jsonl": "reads embedding folders (Parquet shards + manifest.json), not JSONL",
    "wrong columns": lambda w: _case(_sae(w, _shard_renamed(w.activations())), "part-00000.parquet", "embedding"),
    "directory for file": "its inputs are folders",
    "file for directory": lambda w: _case(_sae(w, w.text_file("acts.txt")), "acts.txt"),
    "unwritable output": lambda w: _case(_sae(w, w.activations(), unwritable("sae")), "cannot write in /proc"),
    "nan or inf": lambda w: _case(_sae(w, w.activations(vectors=_with_nan(np.ones((200, 32))))), "NaN"),
    "out of range": lambda w: _case([*_sae(w, w.activations()), "--eta", "2"], "--eta 2", "[-1, 1]"),
})


def _dictionary_truncated(folder: Path) -> Path:
    corrupt(folder / "dictionary.safetensors")
    return folder


cases("build-dictionary", {
    "missing file": lambda w: _case(_build(w, w.path("nope.txt")), "nope.txt"),
    "empty file": lambda w: _case(_build(w, w.empty("concepts.txt")), "concepts.txt"),
    "corrupt parquet": lambda w: _case(_build(w, corrupt(w.parquet("concepts.parquet", {"name": ["cat", "dog"]}))),
                                       "concepts.parquet"),
    "corrupt safetensors": "reads concept lists and text pools (tables), not tensors",
    "corrupt jsonl": lambda w: _case(_build(w, corrupt(w.jsonl("concepts.jsonl", [{"name": "cat"}] * 4))),
                                     "concepts.jsonl"),
    "wrong columns": lambda w: _case(_build(w, w.parquet("concepts.parquet", {"word": ["cat", "dog"]})),
                                     "concepts.parquet", "name"),
    "directory for file": lambda w: _case(_build(w, w.folder("concepts.txt")), "concepts.txt"),
    "file for directory": lambda w: _case(_build(w, "wordnet", w.text_file("dict.txt")), "dict.txt",
                                          "is a file but a folder is written there"),
    "unwritable output": lambda w: _case(_build(w, "wordnet", unwritable("dict")), "cannot write in /proc"),
    "nan or inf": lambda w: _case([*_build(w, "wordnet"), "--min-similarity", "nan"], "nan", "finite"),
    "out of range": lambda w: _case([*_build(w, "wordnet"), "--num-concepts", "0"], "--num-concepts 0",
                                    "at least 1"),
})

cases("steer", {
    "missing file": lambda w: _case(_steer(w, w.path("nope")), "nope", "does not exist", "curate build-dictionary"),
    "empty file": lambda w: _case(_steer(w, _dictionary_emptied(w.dictionary())), "dictionary.safetensors",
                                  "is empty"),
    "corrupt parquet": lambda w: _case(_steer(w, _concepts_truncated(w.dictionary())), "concepts.parquet",
                                       "not a readable Parquet"),
    "corrupt safetensors": lambda w: _case(_steer(w, _dictionary_truncated(w.dictionary())),
                                           "dictionary.safetensors", "not a readable safetensors"),
    "corrupt jsonl": "reads a dictionary or SAE folder (safetensors, Parquet, JSON)",
    "wrong columns": lambda w: _case(_steer(w, w.dictionary(labels=["neutral"] * 8)), "no concept", "undesirable"),
    "directory for file": "its input is a folder",
    "file for directory": lambda w: _case(_steer(w, w.text_file("dict.txt")), "dict.txt", "is a file"),
    "unwritable output": NO_OUTPUT,
    "nan or inf": lambda w: _case([*_steer(w, w.dictionary()), "--strength", "inf"], "--strength inf", "finite"),
    "out of range": lambda w: _case([*_steer(w, w.dictionary()), "--k", "9"], "--k 9", "between 1 and 8"),
})


def _dictionary_emptied(folder: Path) -> Path:
    (folder / "dictionary.safetensors").write_bytes(b"")
    return folder


def _concepts_truncated(folder: Path) -> Path:
    corrupt(folder / "concepts.parquet")
    return folder


cases("diagnose-heads", {
    "missing file": lambda w: _case(_diagnose(w, w.path("nope.jsonl")), "nope.jsonl", "does not exist"),
    "empty file": lambda w: _case(_diagnose(w, w.empty("empty.jsonl")), "empty.jsonl"),
    "corrupt parquet": lambda w: _case(_diagnose(w, corrupt(w.parquet("safe.parquet"))), "safe.parquet"),
    "corrupt safetensors": "reads tables; the model is a registry name or folder",
    "corrupt jsonl": lambda w: _case(_diagnose(w, corrupt(w.jsonl("safe.jsonl"))), "safe.jsonl", "malformed JSON"),
    "wrong columns": lambda w: _case(_diagnose(w, w.jsonl("safe.jsonl", [{"text": "x"}] * 4)), "safe.jsonl",
                                     "--prompt-field"),
    "directory for file": lambda w: _case(_diagnose(w, w.folder("plain")), "plain"),
    "file for directory": lambda w: _case(_diagnose(w, w.jsonl("safe.jsonl"), w.text_file("cm.txt")), "cm.txt",
                                          "is a file but a folder is written there"),
    "unwritable output": lambda w: _case(_diagnose(w, w.jsonl("safe.jsonl"), unwritable("cmap")),
                                         "cannot write in /proc"),
    "nan or inf": TEXT_ONLY,
    "out of range": lambda w: _case([*_diagnose(w, w.jsonl("safe.jsonl")), "--batches", "0"], "--batches 0",
                                    ">= 1"),
})


# --- the run --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A 2-layer Llama (hidden 32) and a 2-layer BERT (hidden 32) saved with a byte-level tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    from tests.helpers import make_char_tokenizer

    root = tmp_path_factory.mktemp("matrix-models")
    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                         pad_token_id=0, bos_token_id=1, eos_token_id=2))
    bert = BertModel(BertConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, max_position_embeddings=128))
    for name, model in (("lm", llama), ("text", bert)):
        model.save_pretrained(root / name)
        make_char_tokenizer().save_pretrained(root / name)
    return root / "lm", root / "text"


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Loading any model (or converting SmolLM2) raises: the checks must all come before it."""
    import curate.models

    def heavy(*args, **kwargs):
        raise RuntimeError("heavy work started: a model was loaded before the bad input was found")

    originals = {name: getattr(curate.models, name) for name in ("load_causal_lm", "load_text_encoder",
                                                                 "_convert_smollm2")}
    for name, original in originals.items():
        monkeypatch.setattr(curate.models, name, heavy)
        for module in list(sys.modules.values()):  # modules that imported the loader by name
            if getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, heavy)
    yield
    for module in list(sys.modules.values()):  # a module first imported during the test bound `heavy` itself
        for name, original in originals.items():
            if getattr(module, name, None) is heavy:
                setattr(module, name, original)


def _files(root: Path) -> dict[str, bytes]:
    """Every file under root, except the resolved configs (`*_config.json`) a stage saves as it starts: they
    record what was asked for, and no reader takes one for a finished output."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.name.endswith("_config.json")}


def _run(argv: list[str], capsys) -> tuple[int | None, str]:
    from curate.cli import main

    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


def test_the_matrix_names_every_pair():
    assert set(MATRIX) == {(c, k) for c in COMMANDS for k in KINDS}
    for (command, kind), entry in MATRIX.items():
        assert callable(entry) or (isinstance(entry, str) and entry), (command, kind)


@pytest.mark.parametrize("command, kind", [(c, k) for c in COMMANDS for k in KINDS],
                         ids=[f"{c.replace(' ', '-')}:{k.replace(' ', '-')}" for c in COMMANDS for k in KINDS])
def test_bad_input(command, kind, tmp_path, tiny_models, no_heavy_work, capsys, monkeypatch):
    entry = MATRIX[(command, kind)]
    if isinstance(entry, str):
        pytest.skip(entry)
    monkeypatch.chdir(tmp_path)
    workspace = Workspace(tmp_path / "work", *tiny_models)
    workspace.root.mkdir()
    case = entry(workspace)
    before = _files(workspace.root)
    code, err = _run(case.argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}, stderr:\n{err}"
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    for needle in case.needles:
        assert needle in lines[0], f"{needle!r} not in: {lines[0]}"
    after = _files(workspace.root)
    assert after == before, f"files written or changed: {sorted(set(after.items()) ^ set(before.items()))[:5]}"
