"""Benchmarks of SOT push-pull weights: quality, scale, ours vs POT, and the end-to-end fine-tuning experiment."""

__all__: list[str] = []
