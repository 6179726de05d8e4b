"""Benchmarks of evaluation: the refusal judge's cross-validated accuracy."""

__all__: list[str] = []
