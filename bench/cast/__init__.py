"""Benchmarks of CAST head-sparse tuning: diagnosis, four head selections, evaluation."""

__all__: list[str] = []
