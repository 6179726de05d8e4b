"""Benchmarks of MOSAIC control tokens: the trained-vs-baselines experiment and one training step's time."""

__all__: list[str] = []
