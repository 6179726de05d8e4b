"""MOSAIC composable safety control tokens on a frozen model: config, token module, sampler, eval controller.

Names load on first use (curate.lazy), so `from train.mosaic.run import MosaicConfig` does not import torch.
"""

from curate.lazy import lazy_exports

__all__ = ["MosaicConfig", "run", "ControlTokens", "MosaicController", "load_controller", "parse_active",
           "insert_prefix", "Task", "order_budgets", "sample_tasks", "cycle_batches", "DEFAULT_REFUSAL"]

lazy_exports(__name__, {
    "train.mosaic.controller": ["MosaicController", "load_controller", "parse_active"],
    "train.mosaic.run": ["DEFAULT_REFUSAL", "MosaicConfig", "run"],
    "train.mosaic.sampler": ["Task", "cycle_batches", "order_budgets", "sample_tasks"],
    "train.mosaic.tokens": ["ControlTokens", "insert_prefix"],
})
