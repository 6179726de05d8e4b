"""A (dictionary-initialised) TopK sparse autoencoder on per-token LM activations (DACO)."""

from train.sae.run import (SAEConfig, SAEController, SAEShape, SparseAutoencoder, annotate_atoms, default_lr,
                           load_sae, load_sae_controller, run, save_sae)

__all__ = ["SAEConfig", "run", "SparseAutoencoder", "SAEShape", "load_sae", "save_sae", "annotate_atoms",
           "SAEController", "load_sae_controller", "default_lr"]
