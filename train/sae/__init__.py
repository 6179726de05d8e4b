"""A TopK sparse autoencoder (random or dictionary-initialised) on per-token LM activations (DACO).

Names load on first use (curate.lazy), so `from train.sae import SAEConfig` does not import torch.
"""

from curate.lazy import lazy_exports

__all__ = ["SAEConfig", "run", "SparseAutoencoder", "SAEShape", "load_sae", "save_sae", "annotate_atoms",
           "SAEController", "load_sae_controller", "default_lr"]

lazy_exports(__name__, {
    "train.sae.annotate": ["annotate_atoms"],
    "train.sae.model": ["SAEShape", "SparseAutoencoder", "load_sae", "save_sae"],
    "train.sae.run": ["SAEConfig", "default_lr", "run"],
    "train.sae.steer": ["SAEController", "load_sae_controller"],
})
