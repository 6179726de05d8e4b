"""Concept dictionary on disk (interface contract 4).

Folder layout: ``dictionary.safetensors`` (keys ``layer_{L}`` -> [K, d] float32 unit rows),
``concepts.parquet`` (row order = atom order), optional ``stimuli.parquet``, ``manifest.json``.
Layer L means ``hidden_states[L]`` of a HF model (output of decoder block L-1).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from curate.errors import InputError
from curate.io import atomic_write_bytes, atomic_write_text, read_json, read_safetensors, read_table, write_parquet

__all__ = ["ConceptDictionary", "load_dictionary", "save_dictionary"]

CONCEPT_COLUMNS = ("concept_id", "name", "synset", "gloss", "group", "label", "n_pos", "n_neg")


@dataclass
class ConceptDictionary:
    """Unit-norm concept atoms per layer plus a concept table whose row order is the atom order."""

    layers: list[int]
    atoms: dict[int, torch.Tensor]
    concepts: Any  # polars.DataFrame
    manifest: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            raise InputError("ConceptDictionary: layers is empty; give at least one layer index.")
        n = self.concepts.height
        missing = [c for c in CONCEPT_COLUMNS if c not in self.concepts.columns]
        if missing:
            raise InputError(f"ConceptDictionary: concepts table lacks columns {missing}; add them.")
        for layer in self.layers:
            if layer not in self.atoms:
                raise InputError(f"ConceptDictionary: no atoms for layer {layer}; atoms has {sorted(self.atoms)}.")
            a = self.atoms[layer]
            if a.ndim != 2 or a.shape[0] != n:
                raise InputError(
                    f"ConceptDictionary: atoms for layer {layer} have shape {tuple(a.shape)}, expected [{n}, d] "
                    f"(one row per concept)."
                )
            self.atoms[layer] = a.detach().to(torch.float32).cpu().contiguous()

    @property
    def dim(self) -> int:
        return int(self.atoms[self.layers[0]].shape[1])


def save_dictionary(dictionary: ConceptDictionary, folder: str | Path, stimuli: Any = None) -> Path:
    """Write ``dictionary`` to ``folder`` (each file via a temp name, then renamed)."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"layer_{L}": dictionary.atoms[L] for L in dictionary.layers}
    atomic_write_bytes(folder / "dictionary.safetensors", save(tensors))
    write_parquet(dictionary.concepts, folder / "concepts.parquet")
    if stimuli is not None:
        write_parquet(stimuli, folder / "stimuli.parquet")
    manifest = dict(dictionary.manifest, layers=list(dictionary.layers), dim=dictionary.dim,
                    n_concepts=dictionary.concepts.height)
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=2, default=str))
    return folder


def load_dictionary(folder: str | Path) -> ConceptDictionary:
    """Read a dictionary folder written by :func:`save_dictionary`."""
    import polars as pl

    folder = Path(folder)
    for name in ("dictionary.safetensors", "concepts.parquet", "manifest.json"):
        if not (folder / name).is_file():
            raise InputError(f"load_dictionary: {folder / name} not found; is {folder} a dictionary folder?")
    manifest = read_json(folder / "manifest.json", what="the manifest.json of `curate build-dictionary --out`")
    tensors = read_safetensors(folder / "dictionary.safetensors", what="the dictionary.safetensors of "
                               "`curate build-dictionary --out`")
    layers = [int(k.split("_", 1)[1]) for k in tensors]
    layers.sort()
    return ConceptDictionary(layers=layers, atoms={L: tensors[f"layer_{L}"] for L in layers},
                             concepts=pl.from_arrow(read_table(folder / "concepts.parquet")), manifest=manifest)
