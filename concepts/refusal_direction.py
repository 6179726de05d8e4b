"""The refusal-direction peer of DACO: one difference-of-means direction at one layer, added during generation.

For prompts x, let h_L(x) ∈ R^d be the residual stream after decoder block L at the last prompt token (the
position the answer is generated from). The direction is

    r_L = mean_{x ∈ harmful} h_L(x) − mean_{x ∈ harmless} h_L(x)        (shape [d], not normalised)

and steering adds α · r_L to the output of block L at every position ("activation addition"); α = 1 moves a
harmless prompt's mean onto the harmful mean. `mode="project"` instead removes the component along r̂_L
(h − (h·r̂) r̂), which suppresses refusals rather than adding them. Arditi et al. (2024) and Turner et al. (2023)
use this construction; it is the one-direction baseline DACO's fine-grained dictionary is compared against.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from curate.errors import ConfigError, InputError
from curate.io import atomic_write_text, read_safetensors
from curate.lm.chat import format_prompt
from curate.lm.generation import encode_left_padded
from curate.lm.layers import decoder_layers

__all__ = ["last_token_activations", "difference_of_means", "DirectionController", "save_direction",
           "load_direction"]


@torch.no_grad()
def last_token_activations(model, tokenizer, prompts: list[str], layer: int, batch_size: int = 16,
                           system: str | None = None) -> torch.Tensor:
    """h_L at the last token of each chat-formatted prompt, [n, d] float32 (left padding keeps it at -1)."""
    blocks = decoder_layers(model)
    if not 1 <= layer <= len(blocks):
        raise ConfigError(f"--layer {layer}: the model has {len(blocks)} decoder layers (use 1..{len(blocks)})")
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(prompts), batch_size):
        texts = [format_prompt(tokenizer, p, system) for p in prompts[start:start + batch_size]]
        ids, mask = encode_left_padded(tokenizer, texts, device)
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        rows.append(out.hidden_states[layer][:, -1].float().cpu())
    return torch.cat(rows)


def difference_of_means(model, tokenizer, harmful: list[str], harmless: list[str], layer: int,
                        batch_size: int = 16) -> torch.Tensor:
    """r_L = mean h_L(harmful) − mean h_L(harmless), [d] float32."""
    if not harmful or not harmless:
        raise InputError("refusal direction: needs at least one harmful and one harmless prompt")
    h = last_token_activations(model, tokenizer, harmful, layer, batch_size)
    b = last_token_activations(model, tokenizer, harmless, layer, batch_size)
    return h.mean(0) - b.mean(0)


@dataclass
class DirectionController:
    """A Controller (curate.evaluation.controls): adds α·r or projects r̂ out of block `layer`'s output."""

    direction: torch.Tensor
    layer: int
    alpha: float = 1.0
    mode: Literal["add", "project"] = "add"

    def __post_init__(self) -> None:
        if self.mode not in ("add", "project"):
            raise ConfigError(f"direction steering mode '{self.mode}': use 'add' or 'project'")
        if self.direction.ndim != 1 or not torch.isfinite(self.direction).all():
            raise InputError("direction steering: the direction must be a finite 1-d vector")

    def embed_inputs(self, model, input_ids, attention_mask):
        return model.get_input_embeddings()(input_ids), attention_mask

    def _hook(self, module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        r = self.direction.to(hidden.device, hidden.dtype)
        if self.mode == "add":
            steered = hidden + self.alpha * r
        else:
            unit = r / r.norm().clamp_min(1e-12)
            steered = hidden - (hidden @ unit).unsqueeze(-1) * unit
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    @contextlib.contextmanager
    def hooks(self, model):
        blocks = decoder_layers(model)
        if not 1 <= self.layer <= len(blocks):
            raise ConfigError(f"direction steering: layer {self.layer} is out of range 1..{len(blocks)}")
        if self.direction.shape[0] != int(model.config.hidden_size):
            raise InputError(f"direction steering: the direction is {self.direction.shape[0]}-d but the model's "
                             f"hidden size is {model.config.hidden_size}; compute it with this model")
        handle = blocks[self.layer - 1].register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()


def save_direction(folder: str | Path, direction: torch.Tensor, layer: int, meta: dict | None = None) -> None:
    """direction.safetensors (key 'direction') + direction.json {layer, norm, ...meta}."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"direction": direction.float().contiguous()}, str(folder / "direction.safetensors"))
    info = {"kind": "refusal-direction", "layer": layer, "norm": float(direction.norm()), **(meta or {})}
    atomic_write_text(folder / "direction.json", json.dumps(info, indent=2) + "\n")


def load_direction(folder: str | Path, alpha: float = 1.0, mode: Literal["add", "project"] = "add",
                   layer: int | None = None) -> DirectionController:
    """The DirectionController saved in `folder` by save_direction."""
    folder = Path(folder)
    meta_path = folder / "direction.json"
    if not meta_path.is_file():
        raise InputError(f"{folder}: no direction.json; write one with concepts.refusal_direction.save_direction")
    meta = json.loads(meta_path.read_text())
    tensors = read_safetensors(folder / "direction.safetensors")
    return DirectionController(tensors["direction"], layer or int(meta["layer"]), alpha=alpha, mode=mode)
