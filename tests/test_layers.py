"""The floor plan of ARCHITECTURE.md, read from the source: who may import whom, no private reach-ins, no cycles.

Every import counts: module level, inside functions, and `importlib.import_module("literal")`. Only imports
under `if TYPE_CHECKING:` are left out of the cycle check, because they never run.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curate", "embed", "transport", "concepts", "train")
FLOORS = ("ground", "stage", "trainer", "evaluation", "roof")
GROUND_MODULES = ("curate", "curate.errors", "curate.config", "curate.io", "curate.device", "curate.models",
                  "curate.lazy")
GROUND_PACKAGES = ("curate.lm", "curate.datasets")
STAGE_PACKAGES = ("embed", "transport", "concepts")


@dataclass(frozen=True)
class Module:
    name: str
    path: str
    source: str
    is_package: bool


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    """The imported project module (`from pkg import name` is pkg.name when that is a module, else pkg)."""
    written: str
    """The full dotted name as written, down to an imported name, for the private-name check."""
    path: str
    line: int
    statement: str
    runtime: bool
    """False under `if TYPE_CHECKING:`."""

    def where(self) -> str:
        return f"{self.path}:{self.line}: `{self.statement}`"


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def floor(name: str) -> str | None:
    """The floor of a project module, None when the floor plan does not place it."""
    if name == "curate.cli" or within(name, "curate.commands") or within(name, "curate.recipe"):
        return "roof"
    if within(name, "curate.evaluation") or within(name, "curate.report"):
        return "evaluation"
    if within(name, "train"):
        return "trainer"
    if any(within(name, p) for p in STAGE_PACKAGES):
        return "stage"
    if name in GROUND_MODULES or any(within(name, p) for p in GROUND_PACKAGES):
        return "ground"
    return None


def package_scope(name: str, packages: set[str]) -> str:
    """The package a private name belongs to: a top-level package, or one method folder of train/."""
    parts = name.split(".")
    if parts[0] == "train" and len(parts) > 1 and f"train.{parts[1]}" in packages:
        return f"train.{parts[1]}"
    return parts[0]


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def read_modules(root: Path = ROOT) -> dict[str, Module]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            modules[name] = Module(name, str(path.relative_to(root)), path.read_text(), is_package)
    return modules


class _ImportVisitor(ast.NodeVisitor):
    """Collects (line, statement, dotted base, imported names or None, runtime) for every import in a module."""

    def __init__(self, module: Module):
        self.module = module
        self.found: list[tuple[int, str, str, list[str] | None, bool]] = []
        self.runtime = True

    def _statement(self, node: ast.AST) -> str:
        return " ".join((ast.get_source_segment(self.module.source, node) or "").split())

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
        if not guarded:
            return self.generic_visit(node)
        outer, self.runtime = self.runtime, False
        for child in node.body:
            self.visit(child)
        self.runtime = outer
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((node.lineno, self._statement(node), alias.name, None, self.runtime))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._resolve(node.module or "", node.level)
        names = [alias.name for alias in node.names if alias.name != "*"]
        self.found.append((node.lineno, self._statement(node), base, names, self.runtime))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            if isinstance(node.args[0].value, str):
                self.found.append((node.lineno, self._statement(node), node.args[0].value, None, self.runtime))
        self.generic_visit(node)

    def _resolve(self, module: str, level: int) -> str:
        if level == 0:
            return module
        package = self.module.name.split(".")
        if not self.module.is_package:
            package = package[:-1]
        base = package[: len(package) - (level - 1)]
        return ".".join(base + ([module] if module else []))


def find_imports(modules: dict[str, Module]) -> list[Import]:
    imports = []
    for module in modules.values():
        visitor = _ImportVisitor(module)
        visitor.visit(ast.parse(module.source, filename=module.path))
        for line, statement, base, names, runtime in visitor.found:
            if base.split(".")[0] not in PACKAGES:
                continue
            for name in names if names else [None]:
                written = f"{base}.{name}" if name else base
                target = written if written in modules else base
                imports.append(Import(module.name, target, written, module.path, line, statement, runtime))
    return imports


def floor_violations(modules: dict[str, Module], imports: list[Import]) -> list[str]:
    """Each import that reaches a higher floor than its module's own."""
    problems = []
    for item in imports:
        low, high = floor(item.importer), floor(item.target)
        if low is None or high is None:
            continue
        if FLOORS.index(high) > FLOORS.index(low):
            problems.append(f"{item.where()}: {item.importer} ({low}) imports {item.target} ({high})")
    return list(dict.fromkeys(problems))  # `from m import a, b` is one finding, not two


def private_violations(modules: dict[str, Module], imports: list[Import]) -> list[str]:
    """Each import of a `_private` module or name that belongs to another package."""
    packages = {m.name for m in modules.values() if m.is_package}
    found: dict[tuple[str, str, str], list[str]] = {}
    for item in imports:
        parts = item.written.split(".")
        first = next((i for i, part in enumerate(parts) if is_private(part)), None)
        if first is None:
            continue
        owner = package_scope(".".join(parts[: first + 1]), packages)
        if not within(item.importer, owner):
            found.setdefault((item.where(), item.importer, owner), []).append(item.written)
    return [f"{where}: {importer} reaches into {owner}'s private {', '.join(names)}"
            for (where, importer, owner), names in found.items()]


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _shortest_cycle(start: str, members: set[str], graph: dict[str, set[str]]) -> list[str]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return [start]


def cycle_violations(modules: dict[str, Module], imports: list[Import]) -> list[str]:
    """One line per import cycle: the shortest loop through its first module, with each import that closes it."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    edges: dict[tuple[str, str], Import] = {}
    for item in imports:
        if item.runtime and item.target in modules and item.target != item.importer:
            graph[item.importer].add(item.target)
            edges.setdefault((item.importer, item.target), item)
    problems = []
    for component in _strongly_connected(graph):
        loop = _shortest_cycle(component[0], set(component), graph)
        steps = "; ".join(edges[a, b].where() for a, b in zip(loop, loop[1:]))
        problems.append(f"cycle {' -> '.join(loop)} (modules in the cycle: {', '.join(component)}): {steps}")
    return problems


@cache
def project() -> tuple[dict[str, Module], list[Import]]:
    modules = read_modules()
    return modules, find_imports(modules)


def report(title: str, problems: list[str]) -> str:
    return f"{len(problems)} {title}:\n" + "\n".join(f"  {p}" for p in problems)


def test_every_module_has_a_floor():
    modules, _ = project()
    unplaced = [m.path for m in modules.values() if floor(m.name) is None]
    assert not unplaced, ("add these modules to a floor in tests/test_layers.py (and ARCHITECTURE.md): "
                          + ", ".join(unplaced))


def test_no_module_imports_a_higher_floor():
    problems = floor_violations(*project())
    assert not problems, report("imports from a higher floor (ground < stage < trainer < evaluation < roof)", problems)


def test_no_module_imports_another_packages_private_module():
    problems = private_violations(*project())
    assert not problems, report("imports of another package's private module or name; make it public", problems)


def test_no_import_cycles():
    problems = cycle_violations(*project())
    assert not problems, report("import cycles", problems)


def test_the_scan_sees_real_imports():
    modules, imports = project()
    assert {"curate.cli", "curate.errors", "embed", "train.sft.run"} <= set(modules)
    importers = {(item.importer, item.target) for item in imports}
    assert ("curate.commands.embed", "curate.config") in importers  # module level
    assert ("curate.commands.embed", "embed.config") in importers  # `from embed.config import EmbedConfig`


# The checks themselves, on small made-up trees.

def _fake(sources: dict[str, str]) -> tuple[dict[str, Module], list[Import]]:
    modules = {}
    for path, source in sources.items():
        parts = path.removesuffix(".py").split("/")
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = Module(name, path, source, is_package)
    return modules, find_imports(modules)


def test_floor_check_catches_a_lazy_import_of_a_higher_floor():
    tree = _fake({
        "curate/io.py": "def f():\n    from embed.store import read, write\n",
        "embed/store.py": "import importlib\ndef g():\n    return importlib.import_module('train.sft.run')\n",
        "train/sft/run.py": "from curate import io\n",
    })
    problems = floor_violations(*tree)
    assert len(problems) == 2
    assert problems[0] == ("curate/io.py:2: `from embed.store import read, write`: "
                           "curate.io (ground) imports embed.store (stage)")
    assert "embed.store (stage) imports train.sft.run (trainer)" in problems[1]


def test_private_check_allows_own_package_and_trains_shared_loop():
    tree = _fake({
        "concepts/vocab.py": "from curate.datasets import _wordnet\nfrom concepts._plot import draw\n",
        "curate/datasets/_wordnet.py": "",
        "curate/evaluation/run.py": "from curate.datasets._wordnet import nouns\n",
        "train/_loop.py": "from train.cast._mask import m\n",
        "train/sft/run.py": "from train._loop import fit\nfrom train.sft._data import rows\n",
        "train/cast/__init__.py": "",
        "train/sft/__init__.py": "",
    })
    problems = private_violations(*tree)
    assert [p.split(":")[0:2] for p in problems] == [["concepts/vocab.py", "1"], ["train/_loop.py", "1"]]
    assert "concepts.vocab reaches into curate's private curate.datasets._wordnet" in problems[0]
    assert "train._loop reaches into train.cast's private train.cast._mask.m" in problems[1]


def test_cycle_check_names_the_loop_and_its_imports():
    tree = _fake({
        "curate/evaluation/judge.py": "def f():\n    from curate.evaluation import judge_train\n",
        "curate/evaluation/judge_train.py": "from curate.evaluation.judge import encode\n",
        "curate/evaluation/__init__.py": "",
        "curate/lm/layers.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from curate.lm import chat\n",
        "curate/lm/chat.py": "from curate.lm.layers import x\n",
    })
    problems = cycle_violations(*tree)
    assert len(problems) == 1
    assert problems[0].startswith("cycle curate.evaluation.judge -> curate.evaluation.judge_train -> "
                                  "curate.evaluation.judge")
    assert "curate/evaluation/judge.py:2: `from curate.evaluation import judge_train`" in problems[0]


@pytest.mark.parametrize("name, expected", [
    ("curate.errors", "ground"), ("curate.lm.chat", "ground"), ("curate.datasets.wordnet", "ground"),
    ("embed.encoders.text", "stage"), ("train._loop", "trainer"), ("curate.evaluation.judge", "evaluation"),
    ("curate.commands.sot", "roof"), ("curate.cli", "roof"), ("curate.reports", None),
    ("curate.report.corpus", "evaluation"), ("curate.recipe.run", "roof"),
])
def test_floor_of(name, expected):
    assert floor(name) == expected
