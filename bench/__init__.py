"""Benchmarks, one subpackage per stage; each public module is a script run from the repository root:

    .venv/bin/python -m bench.sot.quality --help

Private `_*.py` modules are the scripts' helpers; `bench.common` holds what several stages share. Measured
figures are recorded in BENCHMARKS.md, pictures under bench/results/.
"""

__all__: list[str] = []
