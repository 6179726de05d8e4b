"""Training throughput: our SAE step next to EleutherAI sparsify's SparseCoder on the same cached activations.

Sparsify's Trainer hooks a live model, so its SparseCoder is driven here by a loop that mirrors the Trainer's
step for `loss_fn=fvu`: decoder rows renormalised, forward with the dead mask, fvu + auxk_alpha · auxk_loss,
backward, gradient parallel to the decoder rows removed, optimiser step. Both get identical batches, k, width,
learning rate, warm-up, AuxK weight and dead threshold, and both start from the data mean as decoder bias.
Steps alternate (ours, theirs, ours, …) so a busy shared CPU slows both alike.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from train.sae.fit import FitOptions, make_adam, train_step
from train.sae.metrics import DeadLatents, evaluate
from train.sae.model import SAEShape, SparseAutoencoder


class SparsifyRunner:
    """sparsify.SparseCoder trained the way sparsify.Trainer trains it (Adam optimiser option)."""

    def __init__(self, dim: int, width: int, k: int, opts: FitOptions, mean: torch.Tensor, fused: bool):
        os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")  # CPU: the eager embedding_bag decoder
        from sparsify import SparseCoder, SparseCoderConfig

        torch.manual_seed(opts.seed)
        self.sae = SparseCoder(dim, SparseCoderConfig(num_latents=width, k=k))
        self.sae.b_dec.data = mean.clone()
        params = list(self.sae.parameters())
        self.optimizer = torch.optim.Adam(params, lr=opts.lr, **({"fused": True} if fused else {}))
        self.since_fired = torch.zeros(width, dtype=torch.long)
        self.opts = opts

    def step(self, x: torch.Tensor, lr: float) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.sae.set_decoder_norm_to_unit_norm()
        dead = self.since_fired > self.opts.dead_after_tokens
        out = self.sae(x, dead_mask=dead)
        (out.fvu + self.opts.auxk_alpha * out.auxk_loss).backward()
        self.sae.remove_gradient_parallel_to_decoder_directions()
        self.optimizer.step()
        self.optimizer.zero_grad()
        fired = torch.zeros_like(self.since_fired, dtype=torch.bool)
        fired[out.latent_indices.flatten()] = True
        self.since_fired += len(x)
        self.since_fired[fired] = 0
        return float(out.fvu)

    @torch.no_grad()
    def held_out_fvu(self, vectors: np.ndarray, batch_size: int = 4096) -> float:
        self.sae.set_decoder_norm_to_unit_norm()
        x_all = torch.as_tensor(vectors)
        mean = x_all.mean(0)
        error = variance = 0.0
        for start in range(0, len(x_all), batch_size):
            x = x_all[start:start + batch_size]
            error += float((self.sae(x).sae_out - x).pow(2).sum())
            variance += float((x - mean).pow(2).sum())
        return error / variance


def compare_throughput(source, held: np.ndarray, opts: FitOptions, width: int, k: int, steps: int,
                       peers: dict[str, bool]) -> dict:
    """Alternate `steps` steps of ours and of each sparsify variant {name: fused_adam}; time each step."""
    batches = source.batches(opts.batch_size, opts.seed, opts.buffer_rows)
    mean = torch.as_tensor(source.sample(opts.buffer_rows, opts.seed).mean(0))
    ours = SparseAutoencoder(SAEShape(source.dim, width, k=k), seed=opts.seed)
    ours.b_dec.data = mean.clone()
    ours.train()
    optimizer, dead = make_adam(ours.parameters(), opts.lr), DeadLatents(width, opts.dead_after_tokens)
    runners = {name: SparsifyRunner(source.dim, width, k, opts, mean, fused) for name, fused in peers.items()}
    seconds = {"ours": 0.0, **{name: 0.0 for name in runners}}
    for step in range(steps):
        x = torch.as_tensor(next(batches))
        lr = opts.lr * min(1.0, (step + 1) / opts.warmup_steps) if opts.warmup_steps else opts.lr
        for group in optimizer.param_groups:
            group["lr"] = lr
        began = time.perf_counter()
        train_step(ours, optimizer, x, dead, opts)
        seconds["ours"] += time.perf_counter() - began
        for name, runner in runners.items():
            began = time.perf_counter()
            runner.step(x, lr)
            seconds[name] += time.perf_counter() - began
        if (step + 1) % 25 == 0:
            print(f"  throughput step {step + 1}/{steps}: " + ", ".join(
                f"{n} {steps_s:.3f} s/step" for n, steps_s in ((n, s / (step + 1)) for n, s in seconds.items())),
                flush=True)
    tokens = steps * opts.batch_size
    result = {name: {"tokens_per_s": tokens / s, "seconds": s} for name, s in seconds.items()}
    result["ours"]["held_out_fvu"] = evaluate(ours.eval(), held)["fvu"]
    for name, runner in runners.items():
        result[name]["held_out_fvu"] = runner.held_out_fvu(held)
        result[name]["ratio_ours_over_peer"] = result["ours"]["tokens_per_s"] / result[name]["tokens_per_s"]
    return result
