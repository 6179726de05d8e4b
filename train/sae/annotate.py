"""Naming SAE atoms with concepts: nearest dictionary concept, and a safety label from concept centroids.

For decoder row d_j (unit) and the dictionary atoms a_c (unit) of the same layer:
  nearest_concept_j = argmax_c cos(d_j, a_c)
  μ_u = mean of the undesirable atoms, μ_+ = mean of the desirable atoms (each unit-normalised)
  label_j = undesirable  if cos(d_j, μ_u) ≥ η and cos(d_j, μ_u) ≥ cos(d_j, μ_+)
            desirable    if cos(d_j, μ_+) ≥ η and cos(d_j, μ_+) >  cos(d_j, μ_u)
            neutral      otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from curate.errors import InputError

__all__ = ["annotate_atoms", "LABELS"]

LABELS = ("desirable", "undesirable", "neutral")


def _centroid(atoms: torch.Tensor, labels: list[str], which: str) -> torch.Tensor | None:
    chosen = [i for i, label in enumerate(labels) if label == which]
    if not chosen:
        return None
    return F.normalize(atoms[chosen].mean(0), dim=0)


def _cosines(rows: torch.Tensor, centroid: torch.Tensor | None) -> torch.Tensor:
    return rows @ centroid if centroid is not None else torch.full((len(rows),), float("nan"))


def annotate_atoms(decoder: torch.Tensor, dictionary, layer: int, eta: float = 0.2, num_dictionary_atoms: int = 0):
    """A polars table, one row per SAE atom: atom, nearest concept (id, name, label, cosine), the cosines to
    the undesirable and desirable centroids, `label`, and `from_dictionary` (initialised from a concept)."""
    import polars as pl

    if layer not in dictionary.atoms:
        raise InputError(f"the dictionary has no atoms for layer {layer} (it has {sorted(dictionary.atoms)}); "
                         "build it at the SAE's layer or pass --layer")
    atoms = F.normalize(dictionary.atoms[layer].float(), dim=1)
    rows = F.normalize(decoder.detach().float().cpu(), dim=1)
    if atoms.shape[1] != rows.shape[1]:
        raise InputError(f"dictionary atoms are {atoms.shape[1]}-d but the SAE's are {rows.shape[1]}-d")
    concepts = dictionary.concepts
    labels = [str(v) for v in concepts["label"].to_list()]
    best_cos, best = (rows @ atoms.T).max(dim=1)
    cos_bad = _cosines(rows, _centroid(atoms, labels, "undesirable"))
    cos_good = _cosines(rows, _centroid(atoms, labels, "desirable"))
    bad = torch.nan_to_num(cos_bad, nan=-2.0)
    good = torch.nan_to_num(cos_good, nan=-2.0)
    label = ["undesirable" if b >= eta and b >= g else "desirable" if g >= eta and g > b else "neutral"
             for b, g in zip(bad.tolist(), good.tolist())]
    index = best.tolist()
    return pl.DataFrame({
        "atom": list(range(len(rows))),
        "nearest_concept_id": [str(concepts["concept_id"][i]) for i in index],
        "nearest_concept": [str(concepts["name"][i]) for i in index],
        "nearest_label": [labels[i] for i in index],
        "nearest_cosine": best_cos.tolist(),
        "cos_undesirable": cos_bad.tolist(),
        "cos_desirable": cos_good.tolist(),
        "label": label,
        "from_dictionary": [j < num_dictionary_atoms for j in range(len(rows))],
    })
