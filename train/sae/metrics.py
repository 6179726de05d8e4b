"""SAE quality figures: FVU, L0 and dead latents on a set of activations; the training-curve picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from train.sae.model import SparseAutoencoder

__all__ = ["DeadLatents", "evaluate", "plot_training_curve", "training_curve_figure"]


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


def _smoothed(values: list[float], window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start), so a noisy per-step curve shows its trend."""
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _sparse_log_label(value: float, _position) -> str:
    """Label the 2s and 5s between decades (0.2, 0.5), so the labels do not overlap."""
    mantissa = round(value / 10 ** np.floor(np.log10(value))) if value > 0 else 0
    return f"{value:g}" if mantissa in (2, 5) else ""


def _curve(ax, steps: list[int], values: list[float], colour: str, label: str, log: bool = False) -> None:
    """Raw values faint, their moving average bold; log scale only when the values span more than a decade."""
    positive = [v for v in values if v > 0]
    if log and positive and max(positive) > 10 * min(positive):
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0.06, not 6 x 10^-2
        ax.yaxis.set_minor_formatter(FuncFormatter(_sparse_log_label))
    window = max(1, len(values) // 50)
    if window > 1:
        ax.plot(steps, values, color=colour, lw=0.6, alpha=0.3)
    ax.plot(steps, _smoothed(values, window), color=colour, lw=1.4,
            label=f"{label} (mean of {window} steps)" if window > 1 else label)


def training_curve_figure(history: list[dict], title: str = "SAE training", held_out: dict | None = None):
    """Four panels against step: training loss, FVU (train and held-out), L0, dead-latent %."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.4), sharex=True)
    (loss_ax, fvu_ax), (l0_ax, dead_ax) = axes
    _curve(loss_ax, steps, [h["loss"] for h in history], "tab:blue", "training loss", log=True)
    loss_ax.set(title="loss (FVU + sparsity/AuxK terms)")
    _curve(fvu_ax, steps, [h["fvu"] for h in history], "tab:orange", "train FVU", log=True)
    if held_out and "fvu" in held_out:
        fvu_ax.axhline(held_out["fvu"], color="tab:purple", ls="--", lw=1.2,
                       label=f"held-out FVU {held_out['fvu']:.4f} (end, {held_out.get('tokens', '?')} tokens)")
    fvu_ax.set(title="fraction of variance unexplained (lower is better)")
    _curve(l0_ax, steps, [h["l0"] for h in history], "tab:green", "L0")
    l0_ax.set(title="L0: active latents per token")
    _curve(dead_ax, steps, [h["dead_pct"] for h in history], "tab:red", "dead latents")
    dead_ax.set(title="dead latents (%)", ylim=(0, max(1.0, 1.1 * max(h["dead_pct"] for h in history))))
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax in axes[1]:
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_curve(history: list[dict], path: Path, title: str = "SAE training",
                        held_out: dict | None = None) -> None:
    """`training_curve_figure` as a PNG at `path`."""
    import io

    import matplotlib.pyplot as plt

    from curate.io import atomic_write_bytes

    fig = training_curve_figure(history, title, held_out)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
