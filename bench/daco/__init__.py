"""Benchmarks of DACO concept dictionaries: build, steering evaluation, retrieval and sparse-coding speed."""

__all__: list[str] = []
