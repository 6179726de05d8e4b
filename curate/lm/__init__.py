"""Shared causal-LM code: chat formatting, batched generation, answer likelihood, decoder-layer access."""
