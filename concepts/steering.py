"""Training-free steering with a concept dictionary: remove the undesirable components of hidden states.

At each steered layer L, a token's hidden state z (hidden_states[L], the output of decoder block L−1) is coded
over the layer's atoms, z ≈ Dᵀa (OMP with k atoms, or lasso), and z' = z − s · Σ_{c undesirable} a_c d_c
(s = strength; s = 1 is the oblique projection onto the span of the other atoms plus the residual; s < 0
amplifies the undesirable part, the direction in which refusals rise).
Which concepts count as undesirable is the concept set: `all` (every concept labelled undesirable), `seed` (those
labelled from the WordNet seed trees) or `topN` (the N undesirable concepts with the highest harm-lexicon score).

Defaults (DEFAULTS, used when neither the caller nor the folder's steering.json sets an option) are the setting
chosen on validation for SmolLM2-135M-Instruct over the default 15k dictionary (issue 17, BENCHMARKS "Steering on
the 15k dictionary"): the middle dictionary layer (15 of 10, 15, 20), OMP k 16, strength −1, set top100. On
held-out prompts that setting did not change the refusal rate measurably (16.4 % → 17.0 %, McNemar p 0.73).
Attention-sink tokens (norm > sink_factor × the median token norm) are left unchanged: their states are
outliers the dictionary was not built on.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from concepts.decompose import decompose
from concepts.dictionary_io import load_dictionary
from curate.errors import ConfigError, InputError
from curate.lm.layers import decoder_layers

__all__ = ["SteeringController", "load_controller", "remove_components", "concept_mask", "default_layers", "DEFAULTS"]

DEFAULTS = {"k": 16, "strength": -1.0, "concepts": "top100", "method": "omp"}
"""Options a dictionary folder steers with when neither the caller nor its steering.json sets them (layers: the
middle dictionary layer, default_layers). Chosen on validation; see the module docstring."""


def remove_components(hidden: torch.Tensor, atoms: torch.Tensor, remove: torch.Tensor, *, k: int | None = 8,
                      alpha: float | None = None, method: Literal["omp", "lasso"] = "omp", strength: float = 1.0,
                      sink_factor: float = 10.0, gram: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """hidden [..., d] → (steered hidden, mean fraction of norm removed). atoms [K, d]; remove [K] bool;
    gram = atoms atomsᵀ when the caller keeps it between calls."""
    shape = hidden.shape
    z = hidden.reshape(-1, shape[-1])
    norms = z.float().norm(dim=1)
    steer = norms <= sink_factor * norms.median() if len(z) > 1 else torch.ones_like(norms, dtype=torch.bool)
    if not steer.any() or not remove.any():
        return hidden, 0.0
    x = z[steer].float()
    codes = decompose(x, atoms.to(x.device), k=min(k, len(atoms)) if k else None, alpha=alpha, method=method,
                      gram=gram).codes
    removed = strength * (codes[:, remove] @ atoms[remove].to(x.device))
    out = z.clone()
    out[steer] = (x - removed).to(z.dtype)
    fraction = float((removed.norm(dim=1) / x.norm(dim=1).clamp_min(1e-12)).mean())
    return out.reshape(shape), fraction


class SteeringController:
    """A `curate eval` controller: plain input embeddings, forward hooks that steer the chosen layers.

    `grams` is a cache of atoms atomsᵀ by (layer, device) that several controllers over the same atoms may share
    (a [K, K] matrix per layer: 900 MB at K = 15,000), as a grid of settings does."""

    def __init__(self, atoms: dict[int, torch.Tensor], remove: torch.Tensor, *, k: int | None = 8,
                 alpha: float | None = None, method: str = "omp", strength: float = 1.0, sink_factor: float = 10.0,
                 grams: dict[tuple[int, str], torch.Tensor] | None = None):
        self.atoms, self.remove = atoms, remove
        self.options = {"k": k, "alpha": alpha, "method": method, "strength": strength, "sink_factor": sink_factor}
        self.removed_fraction: list[float] = []
        self._grams = grams if grams is not None else {}

    def _gram(self, layer: int, device) -> torch.Tensor:
        key = (layer, str(device))
        if key not in self._grams:
            atoms = self.atoms[layer].to(device)
            self._grams[key] = atoms @ atoms.T
        return self._grams[key]

    def embed_inputs(self, model, input_ids, attention_mask):
        return model.get_input_embeddings()(input_ids), attention_mask

    def _blocks(self, model):
        blocks = decoder_layers(model)
        hidden = int(model.config.hidden_size)
        for layer, atoms in self.atoms.items():
            if not 1 <= layer <= len(blocks):
                raise ConfigError(f"steering: layer {layer} is out of range; the model has {len(blocks)} decoder "
                                  f"layers (hidden_states 1..{len(blocks)})")
            if atoms.shape[1] != hidden:
                raise InputError(f"steering: the dictionary's layer-{layer} atoms are {atoms.shape[1]}-d but the "
                                 f"model's hidden size is {hidden}; build the dictionary with this model")
        return blocks

    def _hook(self, layer: int):
        def hook(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            gram = self._gram(layer, hidden.device) if self.options["method"] == "omp" else None
            steered, fraction = remove_components(hidden, self.atoms[layer], self.remove, gram=gram, **self.options)
            self.removed_fraction.append(fraction)
            return (steered, *output[1:]) if isinstance(output, tuple) else steered
        return hook

    @contextlib.contextmanager
    def hooks(self, model):
        blocks = self._blocks(model)
        handles = [blocks[layer - 1].register_forward_hook(self._hook(layer)) for layer in self.atoms]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()


def _saved_options(path: Path) -> dict:
    """The folder's steering.json (defaults for load_controller), {} when it has none."""
    from curate.io import read_json

    settings = path / "steering.json"
    if not settings.is_file():
        return {}
    saved = read_json(settings, what="the steering options of a dictionary folder (k, strength, layers, method)")
    if not isinstance(saved, dict):
        raise InputError(f"{settings}: holds {type(saved).__name__}, not an object of steering options; write e.g. "
                         '{"k": 8, "strength": 1.0}')
    return saved


def _check_saved_k(path: Path, options: dict, atoms: int) -> None:
    """OMP codes each token with k of a layer's atoms; a steering.json k above that count is an error, not the
    silent clamp of remove_components (a k given by the caller is the caller's to check against its own flag)."""
    k = options.get("k")
    if k is None or options.get("method", "omp") != "omp":
        return
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= atoms:
        raise ConfigError(f"{path / 'steering.json'}: k {k!r}, but the dictionary in {path} has {atoms} atoms per "
                          f"layer; set k between 1 and {atoms}")


def concept_mask(concepts, name: str, *, explicit: bool = True) -> torch.Tensor:
    """[K] bool over a dictionary's concepts: the undesirable set `name` (all / seed / topN).

    A dictionary without harm scores (built before they were recorded) has no topN set: an error when the caller
    asked for it (`explicit`), the whole undesirable set when topN is only the default."""
    labels = np.asarray(concepts["label"].to_list()) == "undesirable"
    if name == "all":
        mask = labels
    elif name == "seed":
        from concepts.vocab import wordnet_seed_labels

        seeds = wordnet_seed_labels()
        mask = labels & np.array([seeds.get(s, ("",))[0] == "undesirable" for s in concepts["synset"]], dtype=bool)
    elif re.fullmatch(r"top[1-9]\d*", name):
        if "harm_score" not in concepts.columns:
            if explicit:
                raise ConfigError(f"concept set {name}: the dictionary has no harm_score column (built by an older "
                                  "version); use all or seed, or rebuild it")
            mask = labels
        else:
            score = np.where(labels, concepts["harm_score"].to_numpy(), -np.inf)
            mask = np.zeros(len(labels), dtype=bool)
            mask[np.argsort(-score, kind="stable")[:min(int(name[3:]), int(labels.sum()))]] = True
    else:
        raise ConfigError(f"concept set {name!r}: use all, seed or topN (e.g. top100)")
    return torch.from_numpy(mask)


def default_layers(layers: list[int]) -> list[int]:
    """The steered layers when none are given: the middle one of the dictionary's (the lower of two middles)."""
    ordered = sorted(layers)
    return [ordered[(len(ordered) - 1) // 2]]


def load_controller(path: str | Path, **options):
    """A SteeringController for dictionary folder `path` (curate.evaluation.controls sends SAE folders to train/sae).

    Options (or steering.json in the folder; else DEFAULTS): layers (list or "15,20"; default the middle dictionary
    layer), concepts (all / seed / topN), labels_to_remove (default ["undesirable"]; replaces the concept set),
    k, alpha, method, strength, sink_factor.
    """
    path = Path(path)
    if (path / "sae.safetensors").exists():
        raise InputError(f"{path} is an SAE folder; load it with "
                         "curate.evaluation.controls.load_controller('steer', …)")
    given = {k: v for k, v in options.items() if v is not None}
    saved = _saved_options(path)
    chosen = {**saved, **given}
    options = {**DEFAULTS, **chosen}
    dictionary = load_dictionary(path)
    layers = options.pop("layers", None) or default_layers(dictionary.layers)
    layers = [int(v) for v in (layers.split(",") if isinstance(layers, str) else layers)]
    missing = [L for L in layers if L not in dictionary.atoms]
    if missing:
        raise ConfigError(f"steering: layers {missing} are not in the dictionary {path} (it has {dictionary.layers})")
    fewest = min(int(dictionary.atoms[L].shape[0]) for L in layers)
    if "k" in saved and "k" not in given:
        _check_saved_k(path, options, fewest)
    elif "k" not in chosen:
        options["k"] = min(options["k"], fewest)  # the default k on a dictionary smaller than it
    concept_set = options.pop("concepts")
    targets = options.pop("labels_to_remove", None)
    if targets is not None:
        remove = torch.tensor([label in targets for label in dictionary.concepts["label"].to_list()])
    else:
        targets = ["undesirable"]
        remove = concept_mask(dictionary.concepts, concept_set, explicit="concepts" in chosen)
    if not remove.any():
        raise InputError(f"steering: no concept in {path} is labelled {targets}; nothing to remove "
                         "(relabel with --labels, or build with more concepts)")
    return SteeringController({L: dictionary.atoms[L] for L in layers}, remove, **options)
