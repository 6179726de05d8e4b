"""Inputs → unit feature matrices through the embed stage, cached by (input fingerprint, model, features)."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.errors import InputError
from transport.config import SOTConfig

__all__ = ["Features", "load_features", "TEMPLATES"]

# feature kind → the texts embedded (pair = two embeddings, concatenated then normalised)
TEMPLATES = {"joint": ("{prompt}\n{response}",), "response": ("{response}",), "pair": ("{prompt}", "{response}")}


@dataclass
class Features:
    """One input: its table (None for an embedding folder), row ids, vectors [n, d] (unnormalised), manifests."""

    table: object
    ids: list[str]
    vectors: np.ndarray
    manifests: list[dict]


def _fingerprint(spec: str) -> str:
    """Registry names hash as their name; files/globs/folders by path, size and modification time."""
    if spec.startswith("registry:"):
        return spec
    paths = sorted(glob.glob(spec)) or [spec]
    parts = []
    for p in paths:
        for f in sorted(Path(p).rglob("*")) if Path(p).is_dir() else [Path(p)]:
            if f.exists() and f.is_file():
                st = f.stat()
                parts.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts) or spec


def _cache_folder(spec: str, template: str, config: SOTConfig) -> Path:
    from curate.models import cache_dir, model_fingerprint

    settings = config.embed
    key = json.dumps([_fingerprint(spec), settings.model, model_fingerprint(settings.model), settings.encoder,
                      settings.layer, template, config.id_field])
    root = config.embeddings_cache or cache_dir() / "embeddings"
    return Path(root) / hashlib.sha256(key.encode()).hexdigest()[:20]


def _embed(spec: str, template: str, config: SOTConfig):
    from embed import read_embeddings
    from embed import run as embed_run

    folder = _cache_folder(spec, template, config)
    manifest = folder / "manifest.json"
    if manifest.exists() and all(s.get("complete") for s in json.loads(manifest.read_text()).get("shards", [])):
        return read_embeddings(folder)
    return embed_run(config.embed.embed_config((spec,), folder, template=template, id_field=config.id_field,
                                               device=config.device, on_error=config.on_error,
                                               progress=config.progress))


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
