"""MOSAIC control tokens: m learnable input embeddings per category, composed by concatenation.

A set of active categories S = (c1, ..., cr) becomes the prefix [z_c1; ...; z_cr] of shape [r*m, H], inserted
immediately before each row's first real token, so it works with left padding (generation) and right padding
(training) alike. These embeddings are the only trainable parameters; the backbone stays frozen.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from curate.errors import ConfigError, InputError
from curate.io import atomic_write_bytes, atomic_write_text, read_safetensors

__all__ = ["ControlTokens", "insert_prefix", "position_ids_from_mask", "TOKENS_FILE", "META_FILE"]

TOKENS_FILE = "control_tokens.safetensors"
META_FILE = "control_tokens.json"


class ControlTokens(nn.Module):
    """Per-category token embeddings z_c of shape [m, H]; `compose(active)` -> [len(active) * m, H]."""

    def __init__(self, categories: list[str], tokens_per_category: int, hidden_size: int,
                 init: torch.Tensor | None = None) -> None:
        super().__init__()
        if tokens_per_category < 1:
            raise ConfigError(f"--tokens-per-category {tokens_per_category}: must be >= 1")
        self.tokens_per_category = tokens_per_category
        self.hidden_size = hidden_size
        self.tokens = nn.ParameterDict()
        for category in categories:
            self.add_category(category, init)

    @property
    def categories(self) -> list[str]:
        return list(self.tokens.keys())

    def add_category(self, category: str, init: torch.Tensor | None = None) -> None:
        """Add a category's tokens; `init` is a pool [N, H] of embeddings to draw the m starting rows from."""
        if not category or "." in category:
            raise InputError(f"category '{category}': names must be non-empty and contain no '.'")
        if category in self.tokens:
            raise InputError(f"category '{category}' already has control tokens")
        m, h = self.tokens_per_category, self.hidden_size
        if init is None:
            start = torch.randn(m, h) * 0.02
        else:
            # start from real token embeddings (prompt-tuning practice): a sensible scale and direction
            start = init[torch.randint(0, init.shape[0], (m,))].detach().float().cpu().clone()
        self.tokens[category] = nn.Parameter(start)

    def check_active(self, active: list[str] | tuple[str, ...]) -> None:
        unknown = [c for c in active if c not in self.tokens]
        if unknown:
            raise InputError(f"--active {','.join(active)}: unknown categor{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(unknown)}; trained categories: {', '.join(self.categories)}")
        if len(set(active)) != len(active):
            raise InputError(f"--active {','.join(active)}: a category is listed twice")

    def compose(self, active: list[str] | tuple[str, ...]) -> torch.Tensor:
        """[len(active) * m, H]: the active categories' tokens concatenated in the order given."""
        self.check_active(active)
        if not active:
            return next(iter(self.tokens.values())).new_zeros(0, self.hidden_size)
        return torch.cat([self.tokens[c] for c in active], dim=0)

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save

        folder = Path(folder)
        atomic_write_bytes(folder / TOKENS_FILE, save({c: p.detach().float().cpu().contiguous()
                                                       for c, p in self.tokens.items()}))
        meta = {"categories": self.categories, "tokens_per_category": self.tokens_per_category,
                "hidden_size": self.hidden_size}
        atomic_write_text(folder / META_FILE, json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> "ControlTokens":
        folder = Path(folder)
        if not (folder / TOKENS_FILE).exists() or not (folder / META_FILE).exists():
            raise InputError(f"--controls {folder}: no {TOKENS_FILE} + {META_FILE} (train with `curate train mosaic`)")
        meta = json.loads((folder / META_FILE).read_text())
        weights = read_safetensors(folder / TOKENS_FILE, what=f"the {TOKENS_FILE} of `curate train mosaic --out`")
        tokens = cls([], meta["tokens_per_category"], meta["hidden_size"])
        for category in meta["categories"]:
            tokens.tokens[category] = nn.Parameter(weights[category])
        return tokens


def insert_prefix(prefix: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor,
                  labels: torch.Tensor | None = None):
    """Insert `prefix` ([k, H] or [B, k, H]) before each row's first real token.

    embeds [B, T, H], mask [B, T] -> (embeds [B, T+k, H], mask [B, T+k], labels [B, T+k] or None). Left padding
    stays left ([pad, prefix, x]); right padding stays right ([prefix, x, pad]). Prefix positions are attended
    (mask 1) and unlabelled (-100).
    """
    batch, width = mask.shape
    if prefix.dim() == 2:
        prefix = prefix.unsqueeze(0).expand(batch, -1, -1)
    k = prefix.shape[1]
    if k == 0:
        return embeds, mask, labels
    first = torch.where(mask.any(1), mask.long().argmax(1), torch.zeros_like(mask[:, 0], dtype=torch.long))
    pos = torch.arange(width + k, device=mask.device).unsqueeze(0)  # [1, T+k]
    start = first.unsqueeze(1)  # [B, 1]
    in_prefix = (pos >= start) & (pos < start + k)
    source = torch.where(pos < start, pos, pos - k).clamp(0, width - 1)  # index into the original row
    out = torch.gather(embeds, 1, source.unsqueeze(-1).expand(-1, -1, embeds.shape[-1]))
    prefix_index = (pos - start).clamp(0, k - 1)
    from_prefix = torch.gather(prefix.to(embeds.dtype), 1, prefix_index.unsqueeze(-1).expand(-1, -1, embeds.shape[-1]))
    out = torch.where(in_prefix.unsqueeze(-1), from_prefix, out)
    new_mask = torch.where(in_prefix, torch.ones_like(source), torch.gather(mask.long(), 1, source)).to(mask.dtype)
    if labels is not None:
        labels = torch.where(in_prefix, torch.full_like(source, -100), torch.gather(labels, 1, source))
    return out, new_mask, labels


def position_ids_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over attended tokens only (what `generate` does), so padding never shifts them."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)
