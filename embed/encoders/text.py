"""Sentence embeddings from an encoder-only model: attention-masked mean pooling, optional L2 norm."""

from __future__ import annotations

import numpy as np

from embed.encoders.base import Encoded, Progress, length_sorted_batches, pad_right, tokenize

__all__ = ["TextEncoder"]


class TextEncoder:
    """Sentence embeddings: attention-masked mean of the last hidden state, L2-normalised (sentence-transformers)."""

    normalized = True

    def __init__(self, tokenizer, model, *, batch_size: int = 64, max_length: int = 256, device=None,
                 dtype=None):
        import torch

        self.tokenizer, self.batch_size, self.max_length = tokenizer, batch_size, max_length
        self.device = torch.device(device or "cpu")
        self.model = model.to(self.device, dtype=dtype or torch.float32).eval()
        self.dim = int(model.config.hidden_size)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def encode(self, items: list[str], progress: Progress = None) -> Encoded:
        import torch

        sequences = tokenize(self.tokenizer, items, self.max_length)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for batch in length_sorted_batches(np.fromiter(map(len, sequences), int, len(sequences)), self.batch_size):
                ids, mask = pad_right([sequences[i] for i in batch], self.pad_id)
                ids, mask = ids.to(self.device), mask.to(self.device)
                hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out[batch] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
                if progress:
                    progress(len(batch))
        return Encoded(out)
