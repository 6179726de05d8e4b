"""Benchmarks of SAE training: dictionary vs random initialisation (end_to_end, and init_compare over seeds with
intervals), throughput against sparsify, steering (end_to_end, and steer_select: eta/gamma chosen on validation)."""

__all__: list[str] = []
