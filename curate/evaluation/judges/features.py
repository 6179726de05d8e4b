"""Features of (prompt, answer) pairs for the linear judge: MiniLM embeddings, text statistics and rule flags."""

from __future__ import annotations

import numpy as np

from curate.evaluation.judges.rules import DEFAULT_THRESHOLDS, degenerate_mask
from curate.evaluation.rules import STATISTICS, garak_phrases, opens_with_refusal, text_statistics

__all__ = ["encode_texts", "pair_features", "FLAG_SOURCES", "feature_names"]

FLAG_SOURCES = ("patterns", "prefixes", "mitigation")
"""One 0/1 feature per refusal phrase source (in the first 160 characters), then the degenerate rule flag."""


def encode_texts(texts: list[str], encoder: str = "minilm", batch_size: int = 64) -> np.ndarray:
    """[n, d] float32 unit-norm sentence embeddings, the same vectors `curate embed --encoder text` writes."""
    from curate.models import load_text_encoder
    from embed.encoders.text import TextEncoder

    tokenizer, model = load_text_encoder(encoder)
    if not texts:  # a tokenizer cannot take an empty batch
        return np.zeros((0, int(model.config.hidden_size)), dtype=np.float32)
    return TextEncoder(tokenizer, model, batch_size=batch_size).encode([t or "" for t in texts]).vectors


def feature_names(dim: int, embedding: bool = True) -> list[str]:
    """Names of the `pair_features` columns."""
    names = [f"answer_embedding_{i}" for i in range(dim)] if embedding else []
    return names + ["cosine_prompt_answer", *STATISTICS, *(f"refusal_{s}" for s in FLAG_SOURCES), "degenerate_rule"]


def pair_features(prompts: list[str], responses: list[str], encoder: str = "minilm",
                  embedding: bool = True, phrases: dict | None = None) -> np.ndarray:
    """[n, d + 11] float64: the answer's unit embedding (d, when `embedding`), cosine(prompt, answer), the six
    `text_statistics`, three refusal-phrase flags and the degenerate rule flag (default thresholds)."""
    phrases = phrases or garak_phrases()
    vectors = encode_texts(list(prompts) + list(responses), encoder)
    e_p, e_r = vectors[: len(prompts)], vectors[len(prompts):]
    cosine = (e_p * e_r).sum(1, keepdims=True)
    stats = text_statistics(prompts, responses)
    flags = [[opens_with_refusal(r, phrases, (s,)) for s in FLAG_SOURCES] for r in responses]
    degenerate = degenerate_mask(stats, DEFAULT_THRESHOLDS)[:, None]
    parts = ([e_r] if embedding else []) + [cosine, stats, np.asarray(flags, dtype=np.float64).reshape(-1, 3),
                                             degenerate.astype(np.float64)]
    return np.hstack(parts).astype(np.float64)
