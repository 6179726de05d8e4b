"""Benchmarks of the embedding stage: throughput against sentence-transformers and peak memory."""

__all__: list[str] = []
