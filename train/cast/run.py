"""`curate train cast`: safety fine-tuning of the attention projections with chosen heads frozen (CAST).

The trainable set is every q/k/v/o projection weight (plus the MLPs with --train-mlp); the skipped heads'
slices are masked by `train.cast.mask.frozen_heads`, so they end bit-identical. With grouped-query attention a
skipped head also freezes its KV group's k/v rows (the group's other heads then train only their q rows and
o columns); metrics.json records the parameters actually frozen so budgets can be compared honestly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.errors import ConfigError, InputError
from curate.lm.layers import num_layers
from train.sft import SFTConfig

__all__ = ["CastConfig", "run", "fit_cast", "attention_trainable", "frozen_parameter_count", "check_map_matches"]


@dataclass(frozen=True, kw_only=True)
class CastConfig(SFTConfig):
    conflict_map: Path
    """Folder written by `curate diagnose-heads` for this same model (conflict_map.parquet + manifest.json)."""
    skip_fraction: float = 0.1
    """Fraction of all attention heads whose parameters receive no update, in (0, 1)."""
    select: Literal["conflict", "random", "low-conflict", "none"] = "conflict"
    """Which heads to skip: highest score (CAST), a seeded random set or the lowest scores (same count);
    none = full attention tuning."""
    train_mlp: bool = False
    """Also train the MLP blocks (default: attention projections only)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.select != "none" and not 0 < self.skip_fraction < 1:
            raise ConfigError(f"--skip-fraction {self.skip_fraction}: must be in (0, 1) "
                              "(e.g. 0.1 skips a tenth of the heads)")
        if self.lora:
            raise ConfigError(f"--lora {self.lora}: CAST masks heads of the full weights; LoRA is not supported "
                              "(use --lora 0)")
        if self.train_last:
            raise ConfigError(f"--train-last {self.train_last}: CAST chooses its trainable parameters itself "
                              "(use --train-last 0)")


def attention_trainable(model, train_mlp: bool):
    """A `trainable` predicate for fit(): q/k/v/o projection weights (and MLP weights with train_mlp)."""
    from train.cast.heads import head_slices

    names = {s.name for s in head_slices(model)}

    def trainable(name: str, _param) -> bool:
        return name in names or (train_mlp and re.search(r"\.mlp\.", name) is not None)

    return trainable


def frozen_parameter_count(model, slices) -> int:
    """Distinct parameters the slices cover (a KV group's shared k/v rows count once)."""
    import torch

    params = dict(model.named_parameters())
    masks: dict[str, torch.Tensor] = {}
    for s in slices:
        mask = masks.setdefault(s.name, torch.zeros_like(params[s.name], dtype=torch.bool))
        mask.narrow(s.dim, s.start, s.stop - s.start).fill_(True)
    return int(sum(int(m.sum()) for m in masks.values()))


def check_map_matches(cmap, model, model_name: str, fingerprint: str) -> None:
    """The conflict map must come from this model: same weights fingerprint and the same layers × heads."""
    made_for = cmap.manifest.get("model_fingerprint")
    if made_for != fingerprint:
        raise InputError(
            f"--conflict-map was computed for model '{cmap.manifest.get('model')}' (fingerprint {made_for}), but "
            f"--model {model_name} has fingerprint {fingerprint}; run `curate diagnose-heads --model {model_name}` "
            "to make a map for this model")
    layers, heads = num_layers(model), model.config.num_attention_heads
    if (cmap.manifest.get("layers"), cmap.manifest.get("heads")) != (layers, heads):
        raise InputError(f"--conflict-map has {cmap.manifest.get('layers')} x {cmap.manifest.get('heads')} heads, "
                         f"--model {model_name} has {layers} x {heads}")


def fit_cast(model, tokenizer, rows: list[dict], config, skipped: list[tuple[int, int]], *, weights=None) -> dict:
    """Train in place with the `skipped` (layer, head) pairs frozen; returns fit()'s metrics plus budgets."""
    from train._loop import fit
    from train.cast.heads import head_slices
    from train.cast.mask import frozen_heads

    slices = head_slices(model)
    wanted = set(skipped)
    frozen = [s for s in slices if (s.layer, s.head) in wanted]
    unknown = wanted - {(s.layer, s.head) for s in slices}
    if unknown:
        raise InputError(f"skipped heads {sorted(unknown)[:5]} do not exist in this model")
    trainable = attention_trainable(model, getattr(config, "train_mlp", False))
    with frozen_heads(model, frozen) as after_backward:
        metrics = fit(model, tokenizer, rows, config, weights=weights, after_backward=after_backward,
                      trainable=trainable)
    n_frozen = frozen_parameter_count(model, frozen)
    metrics.update({"skipped_heads": [list(h) for h in sorted(wanted)], "frozen_params": n_frozen,
                    "updated_params": metrics["trainable_params"] - n_frozen})
    return metrics


def run(config: CastConfig) -> dict:
    """Load, check the map, select heads, fine-tune with them frozen; save like `curate train sft`."""
    import torch

    from curate.config import save_config
    from curate.io import check_output
    from curate.lm.chat import ensure_chat_template
    from curate.models import model_fingerprint
    from train.cast.conflict_map import load_conflict_map, select_heads
    from train.cast.heads import head_slices
    from train.sft.run import load_training_inputs, refuse_finished_run, save_trained

    refuse_finished_run(config)
    check_output(config.out, "folder", inputs=(config.data, config.conflict_map))
    cmap = load_conflict_map(config.conflict_map)
    inputs = load_training_inputs(config)
    model, tokenizer = inputs.model, inputs.tokenizer
    try:
        head_slices(model)
    except InputError as err:
        raise InputError(f"--model {config.model}: {err}") from err
    check_map_matches(cmap, model, config.model, model_fingerprint(config.model))
    ensure_chat_template(tokenizer, config.template, config.model)
    skipped = select_heads(cmap, config.skip_fraction, config.select, config.seed)
    torch.manual_seed(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    save_config(config, config.out / "cast_config.json")
    metrics = fit_cast(model, tokenizer, inputs.rows, config, skipped, weights=inputs.weights)
    metrics.update({"model": config.model, "data": config.data, "select": config.select,
                    "skip_fraction": config.skip_fraction if config.select != "none" else 0.0,
                    "rows_in": inputs.table.num_rows, "device": str(inputs.device)})
    return save_trained(config.out, model, tokenizer, metrics)
