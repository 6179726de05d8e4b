"""The settings grid of each steering method, as arms that build their controller when evaluated.

- daco: sparse-coding steering with the concept dictionary (concepts.steering): at the chosen layers each token's
  state is coded over the atoms with OMP (k atoms) and s · (its undesirable part) is removed. s > 0 removes the
  undesirable concepts; s < 0 amplifies them, the direction in which refusals rise.
  Undesirable sets: `all` (every concept labelled undesirable), `seed` (those from the WordNet seed trees),
  `topN` (the N undesirable concepts with the highest harm-lexicon score).
- direction-add / direction-project: the refusal-direction peer (concepts.refusal_direction), r_L from the fit
  prompts, α · r_L added at layer L, or r̂_L projected out.
- plain: no steering (the reference every delta is taken against).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from curate.errors import ConfigError

__all__ = ["Arm", "plain_arm", "daco_arms", "direction_arms", "removal_mask", "parse_floats", "parse_layer_groups",
           "cap_grid"]


@dataclass(frozen=True)
class Arm:
    method: str
    layer: str
    """The steered layer(s) as hidden_states indices, "15" or "10,15,20" ("" for plain)."""
    setting: dict
    make: Callable[[], object | None] = field(compare=False, repr=False)
    """Builds the controller (None = no steering)."""

    @property
    def name(self) -> str:
        parts = [self.method] + ([f"L{self.layer.replace(',', '+')}"] if self.layer else [])
        parts += [f"{k}{v}" for k, v in self.setting.items()]
        return re.sub(r"[^A-Za-z0-9+.=-]", "_", "-".join(str(p) for p in parts))


def plain_arm() -> Arm:
    return Arm("plain", "", {}, lambda: None)


def parse_floats(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ConfigError(f"{option} {text!r}: give comma-separated numbers, e.g. -1,1,2") from err
    if not values:
        raise ConfigError(f"{option} {text!r}: give at least one value")
    return values


def parse_layer_groups(text: str, option: str) -> list[list[int]]:
    """'15;20;10,15,20' -> [[15], [20], [10, 15, 20]]: each group is steered together."""
    try:
        groups = [[int(v) for v in group.split(",")] for group in text.split(";") if group.strip()]
    except ValueError as err:
        raise ConfigError(f"{option} {text!r}: give layer groups like 15;20 or 10,15,20 (';' between groups)") from err
    if not groups:
        raise ConfigError(f"{option} {text!r}: give at least one layer")
    return groups


def removal_mask(concepts, name: str):
    """[K] bool over the dictionary's concepts: the undesirable set `name` (concepts.steering.concept_mask), which
    must hold at least one concept."""
    from concepts.steering import concept_mask

    mask = concept_mask(concepts, name)
    if not mask.any():
        raise ConfigError(f"--sets {name}: no concept of the dictionary is in this undesirable set")
    return mask


def daco_arms(dictionary, groups: list[list[int]], ks: list[float], strengths: list[float],
              sets: list[str]) -> list[Arm]:
    """Every (layer group, k, strength, set) of the dictionary; controllers share one Gram cache."""
    from concepts.steering import SteeringController

    missing = sorted({L for g in groups for L in g} - set(dictionary.atoms))
    if missing:
        raise ConfigError(f"--daco-layers: layers {missing} are not in the dictionary (it has {dictionary.layers})")
    masks = {name: removal_mask(dictionary.concepts, name) for name in sets}
    grams: dict = {}
    arms = []
    for group, k, strength, name in itertools.product(groups, ks, strengths, sets):
        atoms = {L: dictionary.atoms[L] for L in group}
        make = (lambda a=atoms, m=masks[name], kk=int(k), s=strength:  # noqa: E731
                SteeringController(a, m, k=kk, strength=s, grams=grams))
        arms.append(Arm("daco", ",".join(map(str, group)), {"k": int(k), "strength": strength, "set": name}, make))
    return arms


def direction_arms(directions: dict, alphas: list[float], modes: list[str]) -> list[Arm]:
    """{layer: r_L} → add arms for every (layer, α) and one project arm per layer."""
    from concepts.refusal_direction import DirectionController

    arms = []
    for layer, r in directions.items():
        if "add" in modes:
            arms += [Arm("direction-add", str(layer), {"alpha": a},
                         lambda r=r, layer=layer, a=a: DirectionController(r, layer, alpha=a)) for a in alphas]
        if "project" in modes:
            arms.append(Arm("direction-project", str(layer), {},
                            lambda r=r, layer=layer: DirectionController(r, layer, mode="project")))
    return arms


def cap_grid(arms: list[Arm], max_settings: int | None, seed: int) -> list[Arm]:
    """At most `max_settings` arms per method, a seeded subset in grid order (None keeps the grid)."""
    if max_settings is None:
        return arms
    kept = []
    for method in dict.fromkeys(a.method for a in arms):
        same = [a for a in arms if a.method == method]
        pick = np.sort(np.random.default_rng([seed, len(method)]).permutation(len(same))[:max_settings])
        kept += [same[i] for i in pick]
    return kept
