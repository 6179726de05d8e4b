"""bench/ is a package run from the repository root: every script answers `python -m bench.<stage>.<script> --help`
without loading a model, every import inside bench/ names a module and a name that exist, and nothing edits
sys.path."""

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import RESULTS, curate_executable, machine_info, timed, write_json

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PROJECT_PACKAGES = {"bench", "curate", "embed", "transport", "concepts", "train"}
HEAVY = ("torch", "transformers", "sentence_transformers", "faiss", "sklearn")
MODULES = sorted(BENCH.rglob("*.py"))
SCRIPTS = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in BENCH.glob("*/[!_]*.py"))

# Runs every script as `python -m` does (runpy, __main__) in one interpreter, so the whole check costs one start-up;
# records each script's exit code, help text and the heavy modules its --help pulled in.
_HELP_DRIVER = """
import contextlib, io, json, runpy, sys
names, heavy, report = sys.argv[1].split(","), sys.argv[2].split(","), {}
for name in names:
    before, out, code = set(sys.modules), io.StringIO(), None
    sys.argv = [name, "--help"]
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_module(name, run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stop.code
        except Exception as err:
            code = repr(err)
    loaded = sorted(m for m in heavy if m in sys.modules and m not in before)
    report[name] = {"code": code, "help": out.getvalue(), "heavy": loaded}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def help_report() -> dict:
    done = subprocess.run([sys.executable, "-c", _HELP_DRIVER, ",".join(SCRIPTS), ",".join(HEAVY)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_stage_has_scripts():
    stages = {name.split(".")[1] for name in SCRIPTS}
    assert stages == {"embed", "sot", "daco", "mosaic", "cast", "sae", "eval"}
    assert sorted(p.name for p in BENCH.glob("*.py")) == ["__init__.py", "common.py"]  # scripts live in stages


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_works_without_loading_models(help_report, script):
    result = help_report[script]
    assert result["code"] == 0, f"`python -m {script} --help` ended with {result['code']!r}"
    assert result["help"].startswith(f"usage: python -m {script} ")
    first_line = ast.get_docstring(ast.parse(_file(script).read_text())).splitlines()[0]
    assert first_line in result["help"], "the help should show the script's docstring (its command lines)"
    assert result["heavy"] == [], f"--help imported {result['heavy']}; import them inside main()"


def _file(module: str) -> Path:
    """The source file of a project module (module.py or module/__init__.py), found without importing it."""
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Expr):
            names |= _lazy_export_names(node.value)
    return names


def _lazy_export_names(call: ast.expr) -> set[str]:
    """The names a package's `lazy_exports(__name__, {module: [names]})` gives a home (curate.lazy)."""
    if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "lazy_exports" and len(call.args) == 2
            and isinstance(call.args[1], ast.Dict)):
        return set()
    lists = [v for v in call.args[1].values if isinstance(v, ast.List)]
    return {e.value for names in lists for e in names.elts if isinstance(e, ast.Constant)}


def _project_imports(tree: ast.Module) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every absolute import of a project package, lazy ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PROJECT_PACKAGES:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] in PROJECT_PACKAGES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_resolve_and_sys_path_is_untouched(path):
    tree = ast.parse(path.read_text())
    where = path.relative_to(ROOT)
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{where}:{node.lineno}: use an absolute import"
        is_sys_path = isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys"
        assert not is_sys_path, f"{where}:{node.lineno}: no sys.path edits; run the script with python -m from the root"
    for line, module, names in _project_imports(tree):
        source = _file(module)
        assert source.is_file(), f"{where}:{line}: no module {module}"
        defined = _defined_names(ast.parse(source.read_text()))
        for name in names:
            assert name in defined or _file(f"{module}.{name}").is_file(), f"{where}:{line}: {module} has no {name}"


def test_paths_the_scripts_name_exist():
    from bench.sae.end_to_end import CONCEPTS

    assert len(CONCEPTS.read_text().split()) > 10
    assert RESULTS == BENCH / "results" and (RESULTS / "cast").is_dir()
    assert Path(curate_executable()).is_file()


def test_timed_records_a_failed_stage_and_rounds():
    timings: dict[str, float] = {}
    with pytest.raises(ValueError), timed(timings, "broken"):
        raise ValueError("stage failed")
    with timed(timings, "rounded", digits=1):
        pass
    assert timings["broken"] >= 0 and timings["rounded"] == 0.0


def test_write_json_is_readable_and_stringifies_paths(tmp_path):
    target = write_json(tmp_path / "nested" / "results.json", {"work": tmp_path, "rows": [1.5], **machine_info()})
    text = target.read_text()
    assert text.endswith("}\n")
    loaded = json.loads(text)
    assert loaded["work"] == str(tmp_path) and loaded["rows"] == [1.5] and loaded["cpu_count"] == os.cpu_count()
    assert len(loaded["load_average"]) == 3
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]  # no temporary file left behind
