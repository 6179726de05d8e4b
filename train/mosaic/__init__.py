"""MOSAIC composable safety control tokens on a frozen model: config, token module, sampler, eval controller."""

from train.mosaic.controller import MosaicController, load_controller, parse_active
from train.mosaic.run import DEFAULT_REFUSAL, MosaicConfig, run
from train.mosaic.sampler import Task, cycle_batches, order_budgets, sample_tasks
from train.mosaic.tokens import ControlTokens, insert_prefix

__all__ = ["MosaicConfig", "run", "ControlTokens", "MosaicController", "load_controller", "parse_active",
           "insert_prefix", "Task", "order_budgets", "sample_tasks", "cycle_batches", "DEFAULT_REFUSAL"]
