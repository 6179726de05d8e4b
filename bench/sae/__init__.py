"""Benchmarks of SAE training: dictionary vs random initialisation, throughput against sparsify, steering."""

__all__: list[str] = []
