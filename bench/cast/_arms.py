"""The bench's arms: which parameters each one trains, and one training run of an arm on a copy of the model.

- full          every q/k/v/o projection weight;
- cast          the top-rho heads of map a frozen (by score), the rest of the attention trained;
- random        a seeded random head set frozen, drawn until its frozen parameter count equals CAST's at the
                same rho (with grouped-query attention a head set's k/v share depends on the KV groups it hits,
                so the same number of heads is not the same budget);
- low-conflict  the bottom-rho heads frozen (the same number of heads as CAST; its parameters are reported);
- lora          rank-r adapters on q/k/v/o (train/cast/lora.py), r matched to CAST's updated parameters.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

__all__ = ["Arm", "arm_list", "head_keys", "frozen_count", "cast_heads", "low_conflict_heads",
           "matched_random_heads", "training_settings", "train_arm"]

MAX_TRIES = 2_000


@dataclass(frozen=True)
class Arm:
    name: str
    rho: float
    seed: int
    draw: int = 0

    @property
    def key(self) -> str:
        """The arm's folder name, e.g. random-rho0.1-d2-s0."""
        if self.name == "full":
            return f"full-s{self.seed}"
        draw = f"-d{self.draw}" if self.name == "random" else ""
        return f"{self.name}-rho{self.rho:g}{draw}-s{self.seed}"


def arm_list(names: list[str], rhos: list[float], seeds: list[int], random_draws: int, lora_rho: float) -> list[Arm]:
    """Every arm to run, seed-major (a stopped run has whole seeds done), full tuning first in each seed."""
    out = []
    for seed in seeds:
        for name in names:
            if name == "full":
                out.append(Arm("full", 0.0, seed))
            elif name == "lora":
                out.append(Arm("lora", lora_rho, seed))
            else:
                draws = range(random_draws) if name == "random" else range(1)
                out += [Arm(name, rho, seed, d) for rho in rhos for d in draws]
    return out


def head_keys(model) -> dict[tuple[int, int], list[tuple[tuple, int]]]:
    """(layer, head) -> [(slice key, size)]: a head's slices; a KV group's shared k/v rows have one key."""
    from train.cast.heads import head_slices

    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    out: dict[tuple[int, int], list[tuple[tuple, int]]] = {}
    for s in head_slices(model):
        other = shapes[s.name][1 - s.dim]
        out.setdefault((s.layer, s.head), []).append(((s.name, s.dim, s.start, s.stop), (s.stop - s.start) * other))
    return out


def frozen_count(keys: dict, heads) -> int:
    """Distinct parameters the heads cover (the fast form of train.cast.run.frozen_parameter_count)."""
    seen = {key: size for h in heads for key, size in keys[h]}
    return int(sum(seen.values()))


def _cmap(columns: dict):
    from train.cast.conflict_map import ConflictMap

    return ConflictMap(columns, {})


def cast_heads(columns: dict, rho: float) -> list[tuple[int, int]]:
    from train.cast.conflict_map import select_heads

    return select_heads(_cmap(columns), rho, "conflict")


def low_conflict_heads(columns: dict, rho: float) -> list[tuple[int, int]]:
    from train.cast.conflict_map import select_heads

    return select_heads(_cmap(columns), rho, "low-conflict")


def _groups(keys: dict) -> dict[tuple, list[tuple[int, int]]]:
    """Heads keyed by the slices they share with other heads (their KV group's k/v rows)."""
    count: dict[tuple, int] = {}
    for slices in keys.values():
        for key, _ in slices:
            count[key] = count.get(key, 0) + 1
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for head, slices in sorted(keys.items()):
        groups.setdefault(tuple(sorted(key for key, _ in slices if count[key] > 1)), []).append(head)
    return groups


def _constructed(keys: dict, k: int, target: int, rng) -> list[tuple[int, int]] | None:
    """k heads spread over g random KV groups (every group hit), for the g whose frozen count is `target`."""
    groups = list(_groups(keys).values())
    for g in range(1, min(k, len(groups)) + 1):
        chosen = [groups[i] for i in rng.choice(len(groups), size=g, replace=False)]
        if sum(len(c) for c in chosen) < k:
            continue
        pick = [c[rng.integers(len(c))] for c in chosen]
        rest = [h for c in chosen for h in c if h not in pick]
        pick += [rest[i] for i in rng.choice(len(rest), size=k - g, replace=False)]
        if frozen_count(keys, pick) == target:
            return sorted(pick)
    return None


def matched_random_heads(keys: dict, k: int, target: int, seed: list[int]) -> tuple[list[tuple[int, int]], int]:
    """(k random heads whose frozen count equals `target`, that count).

    Uniform draws of k heads are tried first; when none of MAX_TRIES hits the target (CAST's heads may sit in
    fewer or more KV groups than random heads usually do), k heads are spread over g random KV groups with the
    g that gives the target. If neither matches, the closest uniform draw is returned with its own count.
    """
    rng = np.random.default_rng(seed)
    heads = sorted(keys)
    best, best_gap = None, None
    for _ in range(MAX_TRIES):
        pick = [heads[i] for i in rng.choice(len(heads), size=k, replace=False)]
        gap = abs(frozen_count(keys, pick) - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = sorted(pick), gap
        if gap == 0:
            return best, target
    built = _constructed(keys, k, target, rng)
    if built is not None:
        return built, target
    return best, frozen_count(keys, best)


def training_settings(args, seed: int, lr: float | None = None) -> SimpleNamespace:
    """The attributes train._loop.fit reads: the same for every arm but the seed (and LoRA's own lr)."""
    return SimpleNamespace(lr=lr or args.lr, warmup_steps=0, weight_decay=0.0, batch_size=args.batch_size,
                           grad_accum=1, epochs=1, max_steps=args.steps, max_length=args.max_length, seed=seed,
                           save_every=0, system=args.system, prompt_field="prompt", response_field="response",
                           progress=False, train_mlp=False)


def _fit_lora(model, tokenizer, rows, settings, rank: int) -> dict:
    from train._loop import fit
    from train.cast.lora import add_lora

    adapters = add_lora(model, rank, seed=settings.seed)
    metrics = fit(model, tokenizer, rows, settings, trainable=adapters.trainable)
    updated = adapters.parameter_count
    adapters.merge()
    return {**metrics, "updated_params": updated, "frozen_params": 0, "skipped_heads": [], "lora_rank": rank}


def train_arm(base, tokenizer, rows: list[dict], arm: Arm, plan: dict, args, steps: int | None = None):
    """(trained copy of `base`, metrics) for `arm` with the heads/rank in plan[arm.key]; base is untouched."""
    import torch

    from train.cast.run import fit_cast

    model = copy.deepcopy(base)
    torch.manual_seed(arm.seed)
    lr = args.lora_lr if arm.name == "lora" else None
    settings = training_settings(args, arm.seed, lr)
    if steps is not None:
        settings.max_steps = steps
    if arm.name == "lora":
        return model, _fit_lora(model, tokenizer, rows, settings, plan[arm.key]["lora_rank"])
    return model, fit_cast(model, tokenizer, rows, settings, [tuple(h) for h in plan[arm.key]["heads"]])
