"""Inputs → unit feature matrices through the embed stage, cached by (input fingerprint, model, features)."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from curate.errors import InputError
from embed.config import DEFAULT_MODELS, EmbedSettings
from transport.config import SOTConfig

__all__ = ["Features", "load_features", "embed_settings", "TEMPLATES", "LM_POOLING"]

# feature kind → the texts embedded (pair = two embeddings, concatenated then normalised)
TEMPLATES = {"joint": ("{prompt}\n{response}",), "response": ("{response}",), "pair": ("{prompt}", "{response}")}
LM_POOLING = "last"
"""--encoder lm features: the last token's hidden state at --layer (the paper's features), not a token mean."""


@dataclass
class Features:
    """One input: its table (None for an embedding folder), row ids, vectors [n, d] (unnormalised), manifests."""

    table: object
    ids: list[str]
    vectors: np.ndarray
    manifests: list[dict]


def _fingerprint(spec: str) -> str:
    """Registry names hash as their name and the registry's version key (a rebuilt registry is a new input);
    files/globs/folders by path, size and modification time."""
    if spec.startswith("registry:"):
        from curate.datasets import load_dataset_table

        meta = load_dataset_table(spec.split(":")[1]).schema.metadata or {}
        return f"{spec}@{meta.get(b'safecurate.version', b'').decode()}"
    paths = sorted(glob.glob(spec)) or [spec]
    parts = []
    for p in paths:
        for f in sorted(Path(p).rglob("*")) if Path(p).is_dir() else [Path(p)]:
            if f.exists() and f.is_file():
                st = f.stat()
                parts.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts) or spec


def embed_settings(config: SOTConfig) -> EmbedSettings:
    """The embedding settings SOT uses: --encoder lm with the default --model means the model to be fine-tuned
    (smollm2-135m), not the sentence encoder."""
    settings = config.embed
    if settings.encoder == "lm" and settings.model == EmbedSettings.model:
        return replace(settings, model=DEFAULT_MODELS["lm"])
    return settings


def _cache_folder(spec: str, template: str, config: SOTConfig) -> Path:
    from curate.models import cache_dir, model_fingerprint

    settings = embed_settings(config)
    pooling = [LM_POOLING] if settings.encoder == "lm" else []  # text-encoder keys stay as they were
    key = json.dumps([_fingerprint(spec), settings.model, model_fingerprint(settings.model), settings.encoder,
                      settings.layer, template, config.id_field, *pooling])
    root = config.embeddings_cache or cache_dir() / "embeddings"
    return Path(root) / hashlib.sha256(key.encode()).hexdigest()[:20]


def _embed(spec: str, template: str, config: SOTConfig):
    from embed import read_embeddings
    from embed import run as embed_run

    folder = _cache_folder(spec, template, config)
    manifest = folder / "manifest.json"
    if manifest.exists() and all(s.get("complete") for s in json.loads(manifest.read_text()).get("shards", [])):
        return read_embeddings(folder)
    settings = embed_settings(config)
    pooling = {"pooling": LM_POOLING} if settings.encoder == "lm" else {}
    return embed_run(settings.embed_config((spec,), folder, template=template, id_field=config.id_field,
                                           device=config.device, on_error=config.on_error,
                                           progress=config.progress, **pooling))


def _align(table, ids: list[str], emb) -> np.ndarray:
    """Vectors in table order; rows the embed stage skipped (on_error=skip) get NaN and are reported later."""
    if list(emb.ids) == ids:
        return np.asarray(emb.vectors, dtype=np.float32)
    where = {i: k for k, i in enumerate(emb.ids)}
    out = np.full((len(ids), emb.vectors.shape[1]), np.nan, dtype=np.float32)
    for row, i in enumerate(ids):
        if i in where:
            out[row] = emb.vectors[where[i]]
    return out


def load_features(spec: str, config: SOTConfig) -> Features:
    """Embed (or read) one input spec and return its features; an embedding folder is used as it is."""
    from embed import open_input, read_embeddings, record_ids

    if Path(spec).is_dir() and (Path(spec) / "manifest.json").exists():
        emb = read_embeddings(spec)
        return Features(None, list(emb.ids), np.asarray(emb.vectors, dtype=np.float32), [emb.manifest])
    table = open_input(spec)
    if table.num_rows == 0:
        raise InputError(f"input {spec} has no rows")
    ids = record_ids(table, config.id_field, fields=("prompt", "response"))
    parts, manifests = [], []
    for template in TEMPLATES[config.features]:
        emb = _embed(spec, template, config)
        vec = _align(table, ids, emb) if len(emb.ids) != table.num_rows else np.asarray(emb.vectors, np.float32)
        parts.append(vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-30))
        manifests.append(emb.manifest)
    return Features(table, ids, np.concatenate(parts, axis=1), manifests)
