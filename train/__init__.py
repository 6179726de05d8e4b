"""Thin trainers over curated Parquet: weighted SFT, MOSAIC control tokens, CAST head-sparse tuning, SAE.

Import the trainer you need (`from train.sft import SFTConfig, run`); nothing heavy loads at package import.
"""

__all__ = ["sft", "mosaic", "cast", "sae"]
