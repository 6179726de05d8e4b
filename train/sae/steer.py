"""Steering a causal LM with an annotated SAE (DACO, SAE steering) — a `curate.evaluation` Controller.

At the SAE's layer, for every position's hidden state z:
  c* = encode(z);  ĉ_j = −c*_j on undesirable atoms, +γ on desirable atoms, 0 elsewhere;  z' = z + ĉ W_dec
so the undesirable atoms' share of z is removed and the desirable directions are added with weight γ.
Attention-sink positions (norm > sink_factor × the median norm in the call) are left as they are: the SAE is
trained without them (`--skip-first-token`), as `concepts.steering` leaves them too.
Layer L means hidden_states[L] (the output of decoder block L − 1), as in `curate embed --layer`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from curate.errors import ConfigError, InputError
from curate.lm.layers import decoder_layers, final_norm
from train.sae.model import SparseAutoencoder, load_sae

__all__ = ["SAEController", "load_sae_controller", "layer_module"]


def layer_module(model, layer: int) -> torch.nn.Module:
    """The module whose output is hidden_states[layer] of a Llama-like HF causal LM."""
    blocks = decoder_layers(model)
    if not 0 <= layer <= len(blocks):
        raise InputError(f"the SAE was trained at layer {layer} but the model has {len(blocks)} layers")
    if layer == 0:
        return model.get_input_embeddings()
    return final_norm(model) if layer == len(blocks) else blocks[layer - 1]


class SAEController:
    """Identity input embeddings; a forward hook at the SAE's layer edits the residual stream."""

    def __init__(self, sae: SparseAutoencoder, undesirable: torch.Tensor, desirable: torch.Tensor, gamma: float = 0.0,
                 sink_factor: float = 10.0):
        if sae.shape.layer is None:
            raise InputError("the SAE records no layer (sae.json 'layer'); retrain it with `curate train sae`")
        self.sae, self.gamma, self.sink_factor = sae.eval(), float(gamma), float(sink_factor)
        self.undesirable = undesirable.to(torch.bool)
        self.desirable = desirable.to(torch.bool)
        self.layer = int(sae.shape.layer)
        self.calls = 0

    def embed_inputs(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return model.get_input_embeddings()(input_ids), attention_mask

    @torch.no_grad()
    def steer(self, hidden: torch.Tensor) -> torch.Tensor:
        """z' = z + ĉ W_dec for hidden [..., d] (any dtype/device; computed in float32 on the SAE's device)."""
        sae = self.sae
        device = sae.W_dec.device
        flat = hidden.reshape(-1, hidden.shape[-1]).to(device, torch.float32)
        norms = flat.norm(dim=1)
        keep = norms > self.sink_factor * norms.median() if len(flat) > 1 else torch.zeros_like(norms, dtype=torch.bool)
        dense = sae.encode(flat).dense(sae.width)
        change = dense.mul(-self.undesirable.to(device, torch.float32))
        change = change + self.gamma * self.desirable.to(device, torch.float32)
        change[keep] = 0.0
        self.calls += 1
        return hidden + (change @ sae.W_dec).reshape(hidden.shape).to(hidden.device, hidden.dtype)

    def _hook(self, module, args, output):
        if isinstance(output, tuple):
            return (self.steer(output[0]),) + tuple(output[1:])
        return self.steer(output)

    @contextlib.contextmanager
    def hooks(self, model):
        handle = layer_module(model, self.layer).register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()


_OPTIONS = ("gamma", "sink_factor", "device")


def load_sae_controller(path: str | Path, **options) -> SAEController:
    """An SAEController from a `curate train sae` folder (sae.safetensors, sae.json, annotations.parquet).

    Options gamma (default 0), sink_factor (10) and device; a `steering.json` in the folder gives defaults,
    so `curate eval --steer DIR` can use them.
    """
    import json

    import polars as pl

    path = Path(path)
    saved = json.loads((path / "steering.json").read_text()) if (path / "steering.json").is_file() else {}
    options = {**saved, **{k: v for k, v in options.items() if v is not None}}
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f"SAE steering options {unknown} are unknown; it takes {', '.join(_OPTIONS)}")
    device = options.get("device")
    sae = load_sae(path, device or "cpu")
    annotations = path / "annotations.parquet"
    if not annotations.is_file():
        raise InputError(f"{annotations} not found: SAE steering needs annotated atoms; train with "
                         "`curate train sae ... --dictionary DIR` so the atoms are labelled")
    table = pl.read_parquet(annotations).sort("atom")
    if table.height != sae.width:
        raise InputError(f"{annotations} labels {table.height} atoms but the SAE has {sae.width}; "
                         "retrain or re-annotate")
    labels = table["label"].to_list()
    undesirable = torch.tensor([label == "undesirable" for label in labels])
    desirable = torch.tensor([label == "desirable" for label in labels])
    return SAEController(sae, undesirable, desirable, options.get("gamma", 0.0), options.get("sink_factor", 10.0))
