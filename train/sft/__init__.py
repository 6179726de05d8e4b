"""Weighted supervised fine-tuning: SOT weights multiply each example's loss."""

from curate.lazy import lazy_exports

__all__ = ["SFTConfig", "fit", "run"]

# lazy_exports also keeps `run` the function once the submodule train.sft.run is loaded
lazy_exports(__name__, {"train.sft.config": ["SFTConfig", "fit", "run"]})
