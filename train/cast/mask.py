"""Freeze chosen heads' slices during training: zero their gradients and undo any optimiser drift.

Zeroing gradients alone is not enough: AdamW's decoupled weight decay (and moments carried from earlier
steps) would still move a masked slice, so after every optimiser step the frozen values are written back.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from train.cast.heads import HeadSlice

__all__ = ["frozen_heads"]


def _view(param: torch.Tensor, s: HeadSlice) -> torch.Tensor:
    return param.narrow(s.dim, s.start, s.stop - s.start)


@contextlib.contextmanager
def frozen_heads(model: nn.Module, slices: list[HeadSlice]) -> Iterator:
    """Yield an ``after_backward(model)`` callable for ``train.sft.fit``; slices stay bit-identical."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    params = dict(model.named_parameters())
    saved = [(params[s.name], s, _view(params[s.name], s).detach().clone()) for s in slices]

    def after_backward(_model: nn.Module) -> None:
        for p, s, _ in saved:
            if p.grad is not None:
                _view(p.grad, s).zero_()

    def restore(*_args) -> None:
        with torch.no_grad():
            for p, s, value in saved:
                _view(p, s).copy_(value)

    handle = register_optimizer_step_post_hook(restore)
    try:
        yield after_backward
    finally:
        handle.remove()
