"""Every README example runs as written, in order, from a fresh clone (issue 14 item 11).

Each ```bash / ```shell / ```python block carries an HTML comment on the line before it:

    <!-- readme-test: run -->                         executed as written (cheap)
    <!-- readme-test: tiny --n 50 (why) -->           executed with these flag values replacing the README's
    <!-- readme-test: check (why not run) -->         not executed; its inputs must exist or be made earlier
    <!-- readme-test: skip (why not run) -->          not executed; inputs not checked (e.g. your own files)

and optionally `creates=PATH[,PATH]` for outputs of commands that are not `curate` lines (`make demo`).
Whatever the mode, every `curate …` line is parsed by click exactly as the shell would pass it (a removed
command, flag or choice fails), each `--out` may be written only once (a second run would be refused), and
every Python block's imports must resolve and its names be defined by it or an earlier block. Executed blocks
run in a fresh folder; inputs that only a non-executed block makes come from the small stand-ins below.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(bash|shell|python)\s*$")
MARK = re.compile(r"^<!--\s*readme-test:\s*(run|tiny|check|skip)\b(.*?)-->\s*$")
DATA_SUFFIX = re.compile(r"\.(parquet|jsonl|ndjson|json|csv|txt|safetensors|bin|jinja|png)$")


@dataclass
class Block:
    line: int
    language: str
    mode: str
    text: str
    reason: str = ""
    flags: list[str] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.language}, {self.mode})"


def _parse_mark(line: str, at: int) -> tuple[str, str, list[str], list[str]]:
    match = MARK.match(line.strip())
    if match is None:
        raise AssertionError(f"README.md:{at}: a code block needs a `<!-- readme-test: run|tiny|check|skip "
                             f"(reason) -->` line right before it; found {line.strip()[:80]!r}")
    mode, rest = match.group(1), match.group(2)
    creates = [p for m in re.findall(r"creates=(\S+)", rest) for p in m.split(",")]
    rest = re.sub(r"creates=\S+", "", rest)
    reason = re.search(r"\((.*)\)", rest)
    flags = shlex.split(rest[:reason.start()] if reason else rest)
    if mode in ("check", "skip") and not reason:
        raise AssertionError(f"README.md:{at}: `readme-test: {mode}` needs its reason in parentheses")
    return mode, reason.group(1) if reason else "", flags, creates


def readme_blocks(text: str | None = None) -> list[Block]:
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        before = next((j for j in range(i - 1, -1, -1) if lines[j].strip()), None)
        mode, reason, flags, creates = _parse_mark(lines[before] if before is not None else "", i + 1)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(Block(i + 1, fence.group(1), mode, "\n".join(lines[i + 1:end]) + "\n", reason, flags,
                            creates))
        i = end + 1
    return blocks


def shell_commands(text: str) -> list[list[str]]:
    """Each logical shell line (backslash continuations joined, comments dropped) as shlex tokens."""
    joined = re.sub(r"\\\n", " ", text)
    return [tokens for line in joined.splitlines() if (tokens := shlex.split(line, comments=True))]


def _leftover(ctx: click.Context) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        protected = getattr(ctx, "_protected_args", None)
        protected = ctx.protected_args if protected is None else protected
    return [*protected, *ctx.args]


def parse_curate(argv: list[str]) -> tuple[tuple[str, ...], dict, set[str]]:
    """(command path, parsed params, names given on the line) of `curate ARGV`, parsed by click, not run."""
    from click.core import ParameterSource

    from curate.cli import cli

    ctx = cli.make_context("curate", list(argv))
    command: click.Command = cli
    path: list[str] = []
    params: dict = {}
    given: set[str] = set()
    while True:
        params.update(ctx.params)
        given |= {p.name for p in command.params if ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE}
        rest = _leftover(ctx) if isinstance(command, click.Group) else []
        if not rest:
            break
        name, command, rest = ctx.command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    if tuple(path) == ("eval",) and params.get("out") is None:  # eval_command checks --out itself, in its body
        raise click.UsageError("curate eval needs --out DIR")
    return tuple(path), params, given


def _values(value) -> list[str]:
    if isinstance(value, (tuple, list)):
        return [str(v) for v in value]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def is_path(value: str) -> bool:
    """A relative or home path the README means as a file or folder (not registry:NAME, prose, or a number)."""
    if value.startswith(("registry:", "-")) or any(c.isspace() for c in value) or "{" in value:
        return False
    return "/" in value or bool(DATA_SUFFIX.search(value))


class Flow:
    """Paths made so far, in README order, and by which line."""

    def __init__(self):
        self.made: dict[str, str] = {}

    def add(self, path: str, where: str, overwrite: bool = False) -> None:
        path = os.path.normpath(path)
        if path in self.made and not overwrite:
            raise AssertionError(f"{where}: --out {path} was already written by {self.made[path]}; run in order, "
                                 "this command would be refused: choose another --out (or pass --overwrite)")
        self.made[path] = where

    def maker(self, path: str) -> str | None:
        """The README line that made `path` (or a folder holding it); None when no line did."""
        path = os.path.normpath(path)
        for made, where in self.made.items():
            if path == made or path.startswith(made + os.sep):
                return where
        return None

    def require(self, path: str, where: str) -> None:
        if path.startswith("~") or "*" in path:
            raise AssertionError(f"{where}: {path} is a file of your own; mark the block `skip (your own files)`")
        if (ROOT / path).exists() or self.maker(path):
            return
        raise AssertionError(f"{where}: {path} is read but no earlier README command creates it (and it is not in "
                             "the repository)")


def _shell_outputs(tokens: list[str]) -> list[str]:
    return [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t in (">", ">>")]


def _curate_lines(block: Block) -> list[list[str]]:
    return [tokens[1:] for tokens in shell_commands(block.text) if tokens[0] == "curate"]


def _walk_shell(block: Block, flow: Flow) -> None:
    for tokens in shell_commands(block.text):
        where = f"{block.where}: `{shlex.join(tokens)[:100]}`"
        if tokens[0] == "curate":
            try:
                path, params, given = parse_curate(tokens[1:])
            except click.ClickException as err:
                raise AssertionError(f"{where}: click refuses it: {err.format_message()}") from err
            inputs = [v for name in given - {"out"} for v in _values(params[name]) if is_path(v)]
            if block.mode != "skip":
                for value in inputs:
                    flow.require(value, where)
            for out in _values(params.get("out")):
                flow.add(out, where, overwrite=bool(params.get("overwrite")))
        for out in _shell_outputs(tokens):
            flow.add(out, where)
    for path in block.creates:
        flow.add(path, block.where)


def _python_outputs(tree: ast.AST) -> list[ast.Constant]:
    """String constants passed as `out=`: what the code writes, not reads."""
    return [kw.value for node in ast.walk(tree) if isinstance(node, ast.Call) for kw in node.keywords
            if kw.arg == "out" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)]


def _python_paths(tree: ast.AST) -> list[str]:
    outputs = {id(node) for node in _python_outputs(tree)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and id(node) not in outputs
            and isinstance(node.value, str) and is_path(node.value)]


def _bound_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _check_imports(tree: ast.AST, where: str) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    continue
                try:  # a submodule not imported yet
                    importlib.import_module(f"{node.module}.{alias.name}")
                except ImportError as err:
                    raise AssertionError(f"{where}: `from {node.module} import {alias.name}`: no such name") from err


def _walk_python(block: Block, flow: Flow, defined: set[str]) -> None:
    tree = ast.parse(block.text)
    _check_imports(tree, block.where)
    bound = _bound_names(tree)
    free = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    undefined = sorted(free - bound - defined - set(dir(builtins)))
    assert not undefined, f"{block.where}: uses {undefined}, which neither it nor an earlier block defines"
    defined |= bound
    if block.mode != "skip":
        for path in _python_paths(tree):
            flow.require(path, block.where)
    for node in _python_outputs(tree):
        flow.add(node.value, block.where)


# --- running the cheap blocks ------------------------------------------------------------------------------------


def _stand_in_weighted(path: Path) -> None:
    """What `make demo` leaves, on 60 rows: the input columns plus sot_weight (mean 1) and keep."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    weights = rng.gamma(2.0, 0.5, 60)
    weights *= len(weights) / weights.sum()
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(60)], "prompt": [f"question {i}" for i in range(60)],
                             "response": [f"answer {i}" for i in range(60)], "sot_weight": weights,
                             "keep": weights >= np.quantile(weights, 0.1)}), path)


STAND_INS = {"runs/demo/weighted.parquet": _stand_in_weighted}
"""Inputs an executed block reads that only a block too slow to run makes: a small file of the same shape."""


def _tiny(tokens: list[str], flags: list[str]) -> list[str]:
    """`tokens` with each FLAG VALUE pair of `flags` replacing the same flag's value."""
    tokens = list(tokens)
    for flag, value in zip(flags[::2], flags[1::2]):
        if flag in tokens:
            tokens[tokens.index(flag) + 1] = value
    return tokens


def _provide_inputs(block: Block, flow: Flow, sandbox: Path) -> None:
    """Make each path the block reads that an executed block did not: a stand-in, or a clear failure."""
    texts = _python_paths(ast.parse(block.text)) if block.language == "python" else [
        v for tokens in _curate_lines(block) for v in tokens if is_path(v)]
    for path in texts:
        if (sandbox / path).exists() or flow.maker(path) is None:
            continue
        maker = STAND_INS.get(os.path.normpath(path))
        if maker is None and (ROOT / path).exists():  # a shipped file an unrun block may rewrite
            continue
        assert maker is not None, (f"{block.where} reads {path}, made by {flow.maker(path)}, which is not run: add a "
                                   "stand-in to STAND_INS or mark this block `check`")
        maker(sandbox / path)


def _run_shell(block: Block, sandbox: Path) -> None:
    script = "\n".join(shlex.join(_tiny(tokens, block.flags)) if tokens[0] == "curate" else line
                       for tokens, line in zip(shell_commands(block.text), _logical_lines(block.text)))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=sandbox, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{block.where} failed:\n{script}\n--- stderr ---\n{done.stderr[-3000:]}"


def _logical_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    return [line for line in joined.splitlines() if shlex.split(line, comments=True)]


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    return readme_blocks()


def test_every_block_is_marked_and_every_example_fits_together(blocks):
    """Static pass over all blocks in order: click parses each curate line, files come from earlier lines."""
    assert blocks, "no code blocks found in README.md"
    flow, defined = Flow(), set()
    for block in blocks:
        if block.language == "python":
            _walk_python(block, flow, defined)
        else:
            _walk_shell(block, flow)
    assert any(b.mode in ("run", "tiny") for b in blocks), "no README block is executed"


def test_cheap_blocks_run_in_order(blocks, tmp_path, monkeypatch):
    """Execute the run / tiny blocks in README order in one fresh folder (Python blocks share one namespace)."""
    flow, namespace = Flow(), {"__name__": "__readme__"}
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        if block.mode in ("run", "tiny"):
            _provide_inputs(block, flow, tmp_path)
            if block.language == "python":
                exec(compile(block.text, block.where, "exec"), namespace)  # noqa: S102 - the README's own code
            else:
                _run_shell(block, tmp_path)
        if block.language != "python":
            _record_outputs(block, flow)


def _record_outputs(block: Block, flow: Flow) -> None:
    for tokens in shell_commands(block.text):
        if tokens[0] == "curate":
            _, params, _ = parse_curate(tokens[1:])
            for out in _values(params.get("out")):
                flow.made.setdefault(os.path.normpath(out), block.where)
        for out in _shell_outputs(tokens):
            flow.made.setdefault(os.path.normpath(out), block.where)
    for path in block.creates:
        flow.made.setdefault(os.path.normpath(path), block.where)


# --- the checker itself catches what it is for --------------------------------------------------------------------


def _static(text: str) -> None:
    flow, defined = Flow(), set()
    for block in readme_blocks(text):
        (_walk_python(block, flow, defined) if block.language == "python" else _walk_shell(block, flow))


def test_checker_refuses_a_stale_flag_a_missing_file_a_second_out_and_an_undefined_name():
    ok = "<!-- readme-test: check (x) -->\n```bash\ncurate export in.parquet --out a.jsonl\n```\n"
    with pytest.raises(AssertionError, match="in.parquet is read but no earlier README command creates it"):
        _static(ok)
    made = "<!-- readme-test: skip (x) creates=in.parquet -->\n```bash\nmake demo\n```\n"
    _static(made + ok)
    with pytest.raises(AssertionError, match="click refuses it.*--no-such-flag"):
        _static(made + ok.replace("--out a.jsonl", "--out a.jsonl --no-such-flag 3"))
    with pytest.raises(AssertionError, match="click refuses it"):
        _static(made + ok.replace("curate export", "curate exports"))
    with pytest.raises(AssertionError, match="already written by"):
        _static(made + ok + ok)
    _static(made + ok + ok.replace("a.jsonl", "a.jsonl --overwrite"))
    with pytest.raises(AssertionError, match="needs a `<!-- readme-test"):
        _static("```bash\ncurate models\n```\n")
    with pytest.raises(AssertionError, match=r"uses \['model'\]"):
        _static("<!-- readme-test: check (x) -->\n```python\nfrom curate.lm import generate\n"
                "generate(model, None, [])\n```\n")
    with pytest.raises(AssertionError, match="curate eval needs --out"):
        _static("<!-- readme-test: check (x) -->\n```bash\ncurate eval --limit 3\n```\n")
