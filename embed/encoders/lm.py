"""Causal-LM hidden states at one layer, pooled (mean / last token) or per token (SAE training data)."""

from __future__ import annotations

import numpy as np

from curate.errors import ConfigError
from curate.lm.layers import decoder_layers
from embed.encoders.base import Encoded, Progress, length_sorted_batches, pad_right, tokenize

__all__ = ["CausalLMEncoder", "StopForward", "resolve_layer"]


class StopForward(Exception):
    """Raised by a forward hook once the wanted layer has run, so later layers are never computed."""


def _decoder_blocks(model):
    """The model's decoder blocks, or None for an architecture without known ones (a full forward pass then)."""
    try:
        return decoder_layers(model)
    except ConfigError:
        return None


def resolve_layer(layer: int | None, num_layers: int) -> int:
    """Index into hidden_states (0 = embedding output, L = last layer); negative counts back; None = L // 2."""
    if layer is None:
        return num_layers // 2
    if not -(num_layers + 1) <= layer <= num_layers:
        raise ConfigError(f"--layer {layer}: the model has {num_layers} layers, so use 0..{num_layers} "
                          f"(or -1..-{num_layers + 1} counting back)")
    return layer % (num_layers + 1)


class CausalLMEncoder:
    """hidden_states[layer] of a causal LM. Right padding keeps every real token's position and (causal)
    attention exactly as in an unpadded forward pass, so a record's vector does not depend on its batch."""

    normalized = False

    def __init__(self, tokenizer, model, *, layer: int | None, pooling: str = "mean", batch_size: int = 16,
                 max_length: int = 256, device=None, dtype=None):
        import torch

        self.tokenizer, self.pooling, self.batch_size, self.max_length = tokenizer, pooling, batch_size, max_length
        self.device = torch.device(device or "cpu")
        self.model = model.to(self.device, dtype=dtype or torch.float32).eval()
        self.blocks = _decoder_blocks(self.model)
        self.num_layers = len(self.blocks) if self.blocks is not None else int(model.config.num_hidden_layers)
        self.layer = resolve_layer(layer, self.num_layers)
        self.dim = int(model.config.hidden_size)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = pad if pad is not None else 0

    def hidden(self, ids, mask):
        """[b, T, d] = hidden_states[layer]; stops the forward pass early when a hook can catch that layer."""
        if self.layer == self.num_layers or self.blocks is None:
            out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
            return out.hidden_states[self.layer]
        captured = {}

        def catch(module, args, output):
            captured["h"] = output[0] if isinstance(output, tuple) else output
            raise StopForward

        def catch_input(module, args, kwargs):
            captured["h"] = args[0] if args else kwargs["hidden_states"]
            raise StopForward

        # hidden_states[0] is what the first block receives (embeddings, plus positions or scaling where the
        # architecture adds them), so it is caught on the way in
        if self.layer == 0:
            handle = self.blocks[0].register_forward_pre_hook(catch_input, with_kwargs=True)
        else:
            handle = self.blocks[self.layer - 1].register_forward_hook(catch)
        try:
            self.model(input_ids=ids, attention_mask=mask, use_cache=False)
        except StopForward:
            pass
        finally:
            handle.remove()
        return captured["h"]

    def encode(self, items: list[str], progress: Progress = None) -> Encoded:
        import torch

        sequences = tokenize(self.tokenizer, items, self.max_length)
        lengths = np.fromiter(map(len, sequences), int, len(sequences))
        pooled = np.empty((len(items), self.dim), dtype=np.float32) if self.pooling != "none" else None
        per_token: list[np.ndarray | None] = [None] * len(items)
        with torch.inference_mode():
            for batch in length_sorted_batches(lengths, self.batch_size):
                ids, mask = pad_right([sequences[i] for i in batch], self.pad_id)
                hidden = self.hidden(ids.to(self.device), mask.to(self.device)).float()
                if self.pooling == "mean":
                    weights = mask.to(hidden.device).unsqueeze(-1).to(hidden.dtype)
                    pooled[batch] = ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1)).cpu().numpy()
                elif self.pooling == "last":
                    last = torch.as_tensor(lengths[batch] - 1, device=hidden.device)
                    pooled[batch] = hidden[torch.arange(len(batch), device=hidden.device), last].cpu().numpy()
                else:
                    rows = hidden.cpu().numpy()
                    for k, i in enumerate(batch):
                        per_token[i] = rows[k, :lengths[i]].copy()
                if progress:
                    progress(len(batch))
        if pooled is not None:
            return Encoded(pooled)
        return Encoded(np.concatenate(per_token, axis=0), token_counts=lengths.astype(np.int32))
