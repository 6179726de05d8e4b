"""Device selection (CUDA when present, CPU otherwise) and the CPU thread count a run asks for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from curate.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "autocast_dtype", "apply_threads", "cpu_has_bf16", "warn_slow_bf16"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn 'auto' | 'cpu' | 'cuda' | 'cuda:N' into a torch.device, refusing CUDA where there is none."""
    import torch

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
    import torch

    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if requested != "auto":
        return table[requested]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def apply_threads(config) -> None:
    """Limit torch and the BLAS/OpenMP pools to `config.threads` CPU threads; None or 0 leaves the defaults.

    Called at the start of every stage's run: on a CPU that other jobs share, oversubscribed threads stall on each
    other at every small operation (measured: 1 thread several times faster than one per core).
    """
    threads = getattr(config, "threads", None)
    if not threads:
        return
    import torch

    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it numpy's BLAS keeps its own count
        return
    threadpool_limits(limits=threads)


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU computes bf16 natively (the avx512_bf16 or amx_bf16 flag); None where it cannot be read."""
    try:
        with open(cpuinfo) as handle:
            text = handle.read()
    except OSError:
        return None
    flags = {word for line in text.splitlines() if line.startswith("flags") for word in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def warn_slow_bf16(device: torch.device, what: str = "--dtype bf16", cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Print a warning (and return True) when bf16 is asked for on a CPU without native bf16, where torch emulates
    it: MOSAIC training measured 168 s a step there against 2.9 s on a CPU with AVX512-BF16 (2026-12-04)."""
    import sys

    if device.type != "cpu" or cpu_has_bf16(cpuinfo) is not False:
        return False
    print(f"warning: {what} on a CPU without AVX512-BF16 / AMX: torch emulates bf16 here and a step can take "
          "tens of times longer than fp32; use --dtype fp32 on this machine", file=sys.stderr, flush=True)
    return True
