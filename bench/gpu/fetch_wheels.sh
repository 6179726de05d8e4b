#!/usr/bin/env bash
# Fill bench/gpu/wheels/ (or DEST) with the wheels bench/gpu/check.sh imports, for CPython 3.11 on x86-64 Linux,
# at the versions installed in this venv: transformers, sentence-transformers, faiss-cpu, distributed, pytest and
# what they need, minus torch and its own dependencies (the GPU machine has them), minus numpy (torch machines have
# it; WITH_NUMPY=1 adds its 17 MB) and minus pyarrow, scipy and scikit-learn (the checks do without them).
# Prints the total size: with the repository it has to fit the device's 64 MiB (measured: 51 MB without numpy).
#
#     bash bench/gpu/fetch_wheels.sh [DEST]
set -eu
DEST=${1:-bench/gpu/wheels}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$DEST"
mapfile -t PINNED < <("$PY" - <<'EOF'
import importlib.metadata as md
import re

import os

ROOTS = ["transformers", "sentence-transformers", "faiss-cpu", "distributed", "pytest"]
LEAVE_OUT = {"pyarrow", "scipy", "scikit-learn", "joblib", "threadpoolctl", "narwhals", "pandas", "datasets",
             "accelerate", "pillow", "bokeh"}


def name(requirement: str) -> str:
    return re.split(r"[ ;<>=!~\[(]", requirement.strip())[0].lower().replace("_", "-")


def requires(dist: str) -> list[str]:
    try:
        found = md.distribution(dist).requires or []
    except md.PackageNotFoundError:
        return []
    return [name(r) for r in found if "extra ==" not in r and "sys_platform == \"win32\"" not in r]


def closure(roots, stop):
    seen, todo = set(), list(roots)
    while todo:
        dist = name(todo.pop())
        if dist not in seen and dist not in stop:
            seen.add(dist)
            todo += requires(dist)
    return seen


# what a machine with torch has: torch's own requirements (not the optional ones our venv's torch pulls in)
machine = {d for d in closure(["torch"], set()) if d.startswith(("nvidia-", "cuda-")) or d in {
    "torch", "triton", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "filelock", "fsspec",
    "typing-extensions", "setuptools"}} | ({"numpy"} if os.environ.get("WITH_NUMPY") != "1" else set())
for dist in sorted(closure(ROOTS, machine | LEAVE_OUT)):
    try:
        print(f"{dist}=={md.version(dist)}")
    except md.PackageNotFoundError:  # a requirement for another Python or platform
        pass
EOF
)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
  -d "$DEST" "${PINNED[@]}"
echo "$(ls "$DEST"/*.whl | wc -l) wheels, $(du -sh "$DEST" | cut -f1) in $DEST"
