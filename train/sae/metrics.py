"""SAE quality figures: FVU, L0 and dead latents on a set of activations; the training-curve picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from train.sae.model import SparseAutoencoder

__all__ = ["DeadLatents", "evaluate", "plot_training_curve"]


class DeadLatents:
    """Tokens seen since each latent last fired; a latent is dead once that exceeds `after_tokens`."""

    def __init__(self, width: int, after_tokens: int, device: torch.device | str = "cpu"):
        self.after_tokens = after_tokens
        self.since_fired = torch.zeros(width, dtype=torch.long, device=device)

    def update(self, cols: torch.Tensor, values: torch.Tensor, tokens: int) -> None:
        fired = torch.zeros_like(self.since_fired, dtype=torch.bool)
        fired[cols[values > 0]] = True
        self.since_fired += tokens
        self.since_fired[fired] = 0

    @property
    def mask(self) -> torch.Tensor:
        return self.since_fired > self.after_tokens

    @property
    def fraction(self) -> float:
        return float(self.mask.float().mean())


@torch.no_grad()
def evaluate(sae: SparseAutoencoder, vectors: np.ndarray, batch_size: int = 4096) -> dict:
    """FVU over all of `vectors` (one global mean), mean L0, and the share of latents that never fire on them."""
    training = sae.training
    sae.eval()
    device = sae.W_dec.device
    x_all = torch.as_tensor(vectors, dtype=torch.float32)
    mean = x_all.mean(0).to(device)
    error = variance = l0 = 0.0
    fired = torch.zeros(sae.width, dtype=torch.bool, device=device)
    for start in range(0, len(x_all), batch_size):
        x = x_all[start:start + batch_size].to(device)
        recon, codes = sae(x)
        error += float((x - recon).pow(2).sum())
        variance += float((x - mean).pow(2).sum())
        live = codes.values > 0
        l0 += float(live.sum())
        fired[codes.cols[live]] = True
    sae.train(training)
    n = max(1, len(x_all))
    return {"fvu": error / max(variance, 1e-12), "l0": l0 / n,
            "never_fired_pct": 100.0 * float((~fired).float().mean()), "tokens": len(x_all)}


def plot_training_curve(history: list[dict], path: Path, title: str = "SAE training") -> None:
    """Loss and FVU (log scale), L0 and dead-latent % against step, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from curate.io import atomic_write_bytes

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [h["loss"] for h in history], label="loss", lw=0.8)
    axes[0].plot(steps, [h["fvu"] for h in history], label="FVU", lw=0.8)
    axes[0].set_yscale("log")
    axes[0].legend()
    axes[1].plot(steps, [h["l0"] for h in history], lw=0.8)
    axes[1].set_title("L0 (active latents per token)")
    axes[2].plot(steps, [h["dead_pct"] for h in history], lw=0.8)
    axes[2].set_title("dead latents %")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
