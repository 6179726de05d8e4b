"""Per-head CAST signals: accumulated slice gradients, optimisation conflict, functional sensitivity.

Gradients are accumulated in the projections' own ``.grad`` (only q/k/v/o weights require grad while
diagnosing), so memory is one copy of the attention weights per calibration set, never one per head.
Ablation sensitivity replays cached decoder-layer outputs below the ablated layer: ablating a head of layer
L cannot change layers < L, so only layers >= L are recomputed (about half the cost of a full forward).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from curate.lm.layers import decoder_layers
from train.cast.ablate import ablate_head
from train.cast.heads import HeadSlice, attention_layers
from train.cast.scores import conflict

__all__ = ["loss_settings", "batch_loss", "accumulate_gradients", "head_conflicts", "taylor_sensitivity",
           "ablation_sensitivity", "head_grid"]


def loss_settings(max_length: int, system: str | None, prompt_field: str = "prompt",
                  response_field: str = "response") -> SimpleNamespace:
    """The attributes train._loop's loss reads (prompt/response fields, length budget, system message)."""
    return SimpleNamespace(prompt_field=prompt_field, response_field=response_field, max_length=max_length,
                           system=system)


def batch_loss(model: nn.Module, tokenizer, batch: list[dict], settings) -> torch.Tensor:
    """Mean response-token NLL of one batch (the same loss `curate train sft` minimises)."""
    from train._loop import _weighted_loss

    loss, _ = _weighted_loss(model, tokenizer, batch, torch.ones(len(batch)), settings, len(batch))
    return loss


def head_grid(slices: list[HeadSlice]) -> list[tuple[int, int]]:
    """(layer, head) pairs in layer-major order."""
    return sorted({(s.layer, s.head) for s in slices})


def _projection_names(slices: list[HeadSlice]) -> set[str]:
    return {s.name for s in slices}


def accumulate_gradients(model: nn.Module, tokenizer, batches: list[list[dict]], settings, slices: list[HeadSlice],
                         desc: str = "gradients", progress: bool = True) -> tuple[dict[str, torch.Tensor], float]:
    """({projection name: mean gradient over batches}, mean loss); other parameters get no gradient."""
    names = _projection_names(slices)
    previous = {n: p.requires_grad for n, p in model.named_parameters()}
    params = dict(model.named_parameters())
    for n, p in params.items():
        p.requires_grad_(n in names)
        p.grad = None
    model.eval()  # no dropout: the diagnosis is deterministic
    total = 0.0
    try:
        for batch in tqdm(batches, desc=desc, unit="batch", disable=not progress):
            loss = batch_loss(model, tokenizer, batch, settings) / len(batches)
            loss.backward()
            total += float(loss.detach())
        grads = {n: params[n].grad.detach().clone() for n in names}
    finally:
        for n, p in params.items():
            p.grad = None
            p.requires_grad_(previous[n])
    return grads, total


def _head_vector(tensors: dict[str, torch.Tensor], slices: list[HeadSlice]) -> torch.Tensor:
    return torch.cat([tensors[s.name].narrow(s.dim, s.start, s.stop - s.start).flatten() for s in slices])


def _by_head(slices: list[HeadSlice]) -> dict[tuple[int, int], list[HeadSlice]]:
    out: dict[tuple[int, int], list[HeadSlice]] = {}
    for s in slices:
        out.setdefault((s.layer, s.head), []).append(s)
    return out


def head_conflicts(grad_safe: dict[str, torch.Tensor], grad_util: dict[str, torch.Tensor],
                   slices: list[HeadSlice]) -> dict[str, np.ndarray]:
    """Per head (layer-major order): conflict O(h) and the two gradient norms over the head's slices."""
    rows = {"conflict": [], "safe_grad_norm": [], "util_grad_norm": []}
    for _, own in sorted(_by_head(slices).items()):
        gs, gu = _head_vector(grad_safe, own), _head_vector(grad_util, own)
        rows["conflict"].append(conflict(gs, gu))
        rows["safe_grad_norm"].append(float(gs.norm()))
        rows["util_grad_norm"].append(float(gu.norm()))
    return {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}


def taylor_sensitivity(model: nn.Module, grad_util: dict[str, torch.Tensor], slices: list[HeadSlice]) -> np.ndarray:
    """First-order estimate |θ_h · ∇_{θ_h} L_util| per head (layer-major order)."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    out = []
    for _, own in sorted(_by_head(slices).items()):
        theta, grad = _head_vector(params, own).double(), _head_vector(grad_util, own).double()
        out.append(abs(float(theta @ grad)))
    return np.asarray(out, dtype=np.float64)


class _Replay(nn.Module):
    """Stands in for a decoder layer: returns that layer's recorded output without computing anything."""

    def __init__(self, output) -> None:
        super().__init__()
        self.output = output

    def forward(self, *_args, **_kwargs):
        return self.output


@contextlib.contextmanager
def _replay_below(model: nn.Module, layer: int, recorded: list) -> Iterator[None]:
    layers = decoder_layers(model)
    originals = [layers[i] for i in range(layer)]
    try:
        for i in range(layer):
            layers[i] = _Replay(recorded[i])
        yield
    finally:
        for i, module in enumerate(originals):
            layers[i] = module


def _record_layer_outputs(model: nn.Module, run) -> tuple[float, list]:
    layers = decoder_layers(model)
    recorded: list = [None] * len(layers)
    handles = [layer.register_forward_hook(lambda _m, _a, out, i=i: recorded.__setitem__(i, out))
               for i, layer in enumerate(layers)]
    try:
        value = run()
    finally:
        for h in handles:
            h.remove()
    return value, recorded


@torch.no_grad()
def ablation_sensitivity(model: nn.Module, tokenizer, batches: list[list[dict]], settings,
                         slices: list[HeadSlice], progress: bool = True) -> tuple[np.ndarray, float]:
    """(L_util(head h ablated) − L_util, per head in layer-major order; the unablated L_util)."""
    model.eval()
    attentions = attention_layers(model)  # before any layer is swapped for a replay
    grid = head_grid(slices)
    base, deltas = 0.0, np.zeros(len(grid))
    bar = tqdm(total=len(grid) * len(batches), desc="ablation", unit="head", disable=not progress)
    for batch in batches:
        loss0, recorded = _record_layer_outputs(model, lambda b=batch: float(batch_loss(model, tokenizer, b, settings)))
        base += loss0 / len(batches)
        for k, (layer, head) in enumerate(grid):
            with _replay_below(model, layer, recorded), ablate_head(model, layer, head, attentions[layer]):
                deltas[k] += (float(batch_loss(model, tokenizer, batch, settings)) - loss0) / len(batches)
            bar.update()
    bar.close()
    return deltas, base
