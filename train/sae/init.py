"""Which dictionary atoms initialise the SAE decoder, and how many latents they fill.

Without a fill share every one of the K atoms takes one latent (the rest start random), as before. With
`fill` = f in (0, 1], ceil(f · width) latents start as dictionary atoms (f = 1: the whole decoder, as the DACO
paper initialises it). When the dictionary holds more atoms than that, the labelled ones (undesirable, then
desirable) are kept first, so steering has them, and the neutral ones fill the rest in a seeded random order.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from curate.errors import ConfigError

__all__ = ["dictionary_slots", "choose_atoms", "select_init_atoms"]

_PRIORITY = ("undesirable", "desirable")


def dictionary_slots(width: int, num_atoms: int, fill: float | None) -> int:
    """How many latents start as dictionary atoms: all K atoms (fill None) or ceil(fill · width)."""
    if fill is None:
        return num_atoms
    slots = math.ceil(fill * width - 1e-9)  # 0.5 × 2304 is 1152, not 1153 from rounding noise
    if slots > num_atoms:
        most = math.floor(num_atoms / width * 1000) / 1000
        raise ConfigError(f"--init-fill {fill:g} puts dictionary atoms in {slots} of {width} latents but the "
                          f"dictionary holds {num_atoms} atoms; lower --init-fill to <= {most:g}, lower "
                          f"--expansion, or build a dictionary of >= {slots} concepts")
    return slots


def choose_atoms(labels: list[str], slots: int, seed: int = 0) -> np.ndarray:
    """Indices of the `slots` atoms to place: labelled atoms first (undesirable, desirable, in dictionary order),
    then the others in a seeded random order; the order is the latent order."""
    labels = [str(label) for label in labels]
    if slots > len(labels):
        raise ConfigError(f"{slots} dictionary slots but only {len(labels)} atoms; lower --init-fill")
    first = [i for which in _PRIORITY for i, label in enumerate(labels) if label == which]
    rest = np.array([i for i, label in enumerate(labels) if label not in _PRIORITY], dtype=np.int64)
    rest = rest[np.random.default_rng(seed).permutation(len(rest))]
    return np.concatenate([np.array(first, dtype=np.int64), rest])[:slots]


def select_init_atoms(atoms: torch.Tensor, labels: list[str], width: int, fill: float | None,
                      seed: int = 0) -> torch.Tensor:
    """The [slots, d] atoms that start the decoder: `atoms` unchanged without a fill share, else `choose_atoms`."""
    if fill is None:
        return atoms
    slots = dictionary_slots(width, len(atoms), fill)
    return atoms[torch.as_tensor(choose_atoms(labels, slots, seed))]

