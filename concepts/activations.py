"""Mean-pooled causal-LM activations of the retrieved stimuli at several layers in one forward pass.

The pass runs through `embed.run` (sharded, resumable: a rerun skips finished shards) with an encoder that
hooks every requested layer and returns their mean-pooled states side by side, [n, len(layers) · d].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.errors import ConfigError
from embed.encoders.lm import CausalLMEncoder, StopForward

__all__ = ["MultiLayerEncoder", "MultiLayerBuilder", "parse_layers", "stimulus_activations"]


def parse_layers(spec: str | tuple[int, ...] | list[int], num_layers: int) -> list[int]:
    """'10,15,20' (or ints; negative counts back) → sorted distinct hidden_states indices in 1..num_layers."""
    values = [v for v in (spec.split(",") if isinstance(spec, str) else spec) if str(v).strip()]
    if not values:
        raise ConfigError("--layers is empty; give layer indices such as 10,15,20")
    layers = []
    for value in values:
        try:
            layer = int(value)
        except ValueError as err:
            raise ConfigError(f"--layers {spec!r}: '{value}' is not an integer") from err
        if not (1 <= layer <= num_layers or -num_layers <= layer <= -1):
            raise ConfigError(f"--layers {spec!r}: layer {layer} is out of range; the model has {num_layers} "
                              f"decoder layers, so use 1..{num_layers} (or -1..-{num_layers} counting back)")
        layers.append(layer if layer > 0 else num_layers + 1 + layer)
    return sorted(set(layers))


class MultiLayerEncoder(CausalLMEncoder):
    """The output of decoder block L−1 for each L in `layers` (= hidden_states[L], except that for the last
    layer it is taken before the final norm, where steering hooks act too), concatenated on the last axis,
    mean-pooled over the tokens after the first. The first token is an attention sink whose state has a norm
    ~100× the others (SmolLM2 layer 15: 26,800 vs ~170); with it, a short text's mean is mostly that token's
    state scaled by 1/length, and every direction would point the same way."""

    def __init__(self, tokenizer, model, *, layers: list[int], **options):
        super().__init__(tokenizer, model, layer=max(layers), pooling="mean", **options)
        self.layers = list(layers)
        self.width = self.dim
        self.dim = self.width * len(self.layers)

    def hidden(self, ids, mask):
        import torch

        blocks = self.blocks
        if blocks is None:
            out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
            return torch.cat([out.hidden_states[L] for L in self.layers], dim=-1)
        captured: dict[int, torch.Tensor] = {}

        def catcher(layer):
            def catch(module, args, output):
                captured[layer] = output[0] if isinstance(output, tuple) else output
                if layer == self.layers[-1]:
                    raise StopForward
            return catch

        handles = [blocks[L - 1].register_forward_hook(catcher(L)) for L in self.layers]
        try:
            self.model(input_ids=ids, attention_mask=mask, use_cache=False)
        except StopForward:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return torch.cat([captured[L] for L in self.layers], dim=-1)


    def encode(self, items: list[str], progress=None):
        import torch

        from embed.encoders.base import Encoded, length_sorted_batches, pad_right, tokenize

        sequences = tokenize(self.tokenizer, items, self.max_length)
        lengths = np.fromiter(map(len, sequences), int, len(sequences))
        pooled = np.empty((len(items), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for batch in length_sorted_batches(lengths, self.batch_size):
                ids, mask = pad_right([sequences[i] for i in batch], self.pad_id)
                hidden = self.hidden(ids.to(self.device), mask.to(self.device)).float()
                weights = mask.to(hidden.device, hidden.dtype).unsqueeze(-1)
                weights[:, 0] = (weights[:, 1:].sum(1) == 0).to(hidden.dtype)  # one-token texts keep their token
                pooled[batch] = ((hidden * weights).sum(1) / weights.sum(1)).cpu().numpy()
                if progress:
                    progress(len(batch))
        return Encoded(pooled)


@dataclass(frozen=True)
class MultiLayerBuilder:
    """Picklable recipe (Dask workers build their own model) for a MultiLayerEncoder."""

    config: object  # EmbedConfig with encoder="lm"
    layers: tuple[int, ...]

    @property
    def cache_key(self) -> str:
        return f"multilayer:{self.config.model}:{self.layers}:{self.config.max_length}:{self.config.batch_size}"

    def __call__(self) -> MultiLayerEncoder:
        from curate.device import autocast_dtype, resolve_device
        from curate.models import load_causal_lm

        device = resolve_device(self.config.device)
        dtype = autocast_dtype(device, "float16" if self.config.precision == "auto" and device.type == "cuda"
                               else self.config.precision)
        tokenizer, model = load_causal_lm(self.config.model, progress=self.config.progress)
        return MultiLayerEncoder(tokenizer, model, layers=list(self.layers), batch_size=self.config.batch_size,
                                 max_length=self.config.max_length, device=device, dtype=dtype)


def stimulus_activations(stimuli, folder: Path, *, model: str, layers: list[int], batch_size: int = 32,
                         max_length: int = 64, device: str = "auto", dask: str | None = None,
                         shard_size: int = 2000, progress: bool = True, builder=None) -> dict[int, np.ndarray]:
    """{layer: [n, d] float32} mean-pooled activations of `stimuli` (a table with id, text), rows in its order.

    Shards live in `folder` (named by the layer set), so a stopped build resumes where it left off.
    """
    import polars as pl

    from embed import EmbedConfig, read_embeddings, run

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "stimuli-text.parquet"
    if not source.is_file() or not pl.read_parquet(source, columns=["id"])["id"].equals(stimuli["id"]):
        from curate.io import write_parquet

        write_parquet(stimuli.select("id", "text"), source)
    out = folder / f"acts-skipfirst-L{'-'.join(map(str, layers))}"
    config = EmbedConfig(inputs=(str(source),), out=out, model=model, encoder="lm", layer=max(layers),
                         template="{prompt}", prompt_field="text", id_field="id", batch_size=batch_size,
                         max_length=max_length, device=device, dask=dask, shard_size=shard_size, progress=progress)
    run(config, builder=builder or MultiLayerBuilder(config, tuple(layers)))
    emb = read_embeddings(out)
    order = {i: k for k, i in enumerate(emb.ids)}
    vectors = emb.vectors[[order[i] for i in stimuli["id"].to_list()]]
    width = vectors.shape[1] // len(layers)
    return {L: np.ascontiguousarray(vectors[:, k * width:(k + 1) * width]) for k, L in enumerate(layers)}
