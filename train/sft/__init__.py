"""Weighted supervised fine-tuning: SOT weights multiply each example's loss."""

from train.sft.config import SFTConfig, fit, run

__all__ = ["SFTConfig", "fit", "run"]
