"""LoRA on the attention projections: the parameter-matched baseline CAST is compared with.

Each q/k/v/o projection W (out × in) gets A (r × in, Kaiming-uniform) and B (out × r, zeros), registered on
the projection as ``lora_A`` / ``lora_B``; a forward hook adds (alpha / r) · B A x to its output, so the model
is unchanged at the start. ``merge()`` folds (alpha / r) · B A into W and removes the adapters, leaving a plain
model to evaluate. Parameters: r · Σ (in + out) over the adapted projections (`lora_parameters`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from curate.errors import ConfigError
from train.cast.heads import attention_layers

__all__ = ["LoraAdapters", "add_lora", "lora_parameters", "matching_rank", "PROJECTIONS"]

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")


def _projections(model: nn.Module) -> list[nn.Linear]:
    return [getattr(attn, p) for attn in attention_layers(model) for p in PROJECTIONS]


def lora_parameters(model: nn.Module, rank: int) -> int:
    """Trainable parameters of rank-`rank` adapters on every q/k/v/o projection."""
    return rank * sum(m.in_features + m.out_features for m in _projections(model))


def matching_rank(model: nn.Module, budget: int) -> int:
    """The rank >= 1 whose adapter parameter count is closest to `budget`."""
    per_rank = lora_parameters(model, 1)
    return max(1, int(round(budget / per_rank)))


@dataclass
class LoraAdapters:
    """The adapters `add_lora` attached; `trainable` selects them for train._loop.fit."""

    modules: list[nn.Linear]
    scale: float
    handles: list = field(default_factory=list)

    @property
    def parameter_count(self) -> int:
        return int(sum(m.lora_A.numel() + m.lora_B.numel() for m in self.modules))

    @staticmethod
    def trainable(name: str, _param) -> bool:
        return name.endswith(".lora_A") or name.endswith(".lora_B")

    @torch.no_grad()
    def merge(self) -> None:
        """W += scale · B A for every projection; hooks and adapter parameters are removed."""
        for handle in self.handles:
            handle.remove()
        for m in self.modules:
            m.weight += (self.scale * m.lora_B.float() @ m.lora_A.float()).to(m.weight.dtype)
            del m.lora_A, m.lora_B
        self.handles.clear()


def _hook(scale: float):
    def add_delta(module: nn.Linear, args, output):
        x = args[0]
        return output + scale * nn.functional.linear(nn.functional.linear(x, module.lora_A), module.lora_B)

    return add_delta


def add_lora(model: nn.Module, rank: int, alpha: float | None = None, seed: int = 0) -> LoraAdapters:
    """Attach rank-`rank` adapters (alpha defaults to 2 · rank, as `curate train sft --lora` uses)."""
    if rank < 1:
        raise ConfigError(f"--lora-rank {rank}: must be >= 1")
    generator = torch.Generator().manual_seed(seed)
    scale = (alpha if alpha is not None else 2.0 * rank) / rank
    adapters = LoraAdapters(_projections(model), scale)
    for m in adapters.modules:
        a = torch.empty(rank, m.in_features)
        bound = 1 / math.sqrt(m.in_features)  # kaiming_uniform_(a=sqrt(5)), as nn.Linear and peft initialise A
        a.uniform_(-bound, bound, generator=generator)
        m.register_parameter("lora_A", nn.Parameter(a.to(m.weight.device, m.weight.dtype)))
        m.register_parameter("lora_B", nn.Parameter(torch.zeros(m.out_features, rank, device=m.weight.device,
                                                                dtype=m.weight.dtype)))
        adapters.handles.append(m.register_forward_hook(_hook(scale)))
    return adapters
