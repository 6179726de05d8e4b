"""Device selection: CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch

from curate.errors import ConfigError

__all__ = ["resolve_device", "autocast_dtype"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn 'auto' | 'cpu' | 'cuda' | 'cuda:N' into a torch.device, refusing CUDA where there is none."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    return device


def autocast_dtype(device: torch.device, requested: str = "auto") -> torch.dtype:
    """Compute dtype for inference: bf16/fp16 on CUDA, fp32 on CPU unless asked otherwise."""
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if requested != "auto":
        return table[requested]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
