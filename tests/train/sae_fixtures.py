"""Synthetic inputs for the SAE tests: planted sparse activations in embed's per-token folder layout, and
concept dictionaries written with `save_dictionary`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def planted_atoms(num_atoms: int = 48, dim: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(num_atoms, dim))
    return (atoms / np.linalg.norm(atoms, axis=1, keepdims=True)).astype(np.float32)


def planted_activations(atoms: np.ndarray, rows: int, active: int = 3, noise: float = 0.01, seed: int = 1,
                        offset: float = 2.0) -> np.ndarray:
    """Each row = offset·1 + Σ of `active` random atoms with magnitudes in [1, 3] + Gaussian noise."""
    rng = np.random.default_rng(seed)
    num_atoms, dim = atoms.shape
    chosen = np.argsort(rng.random((rows, num_atoms)), axis=1)[:, :active]
    weights = rng.uniform(1.0, 3.0, size=(rows, active))
    x = np.einsum("na,nad->nd", weights, atoms[chosen]) + offset + noise * rng.normal(size=(rows, dim))
    return x.astype(np.float32)


def write_activation_folder(folder: Path, vectors: np.ndarray, shard_rows: int = 500, layer: int = 1,
                            tokens_per_record: int = 5, dim: int | None = None) -> Path:
    """Shards + manifest.json as `curate embed --encoder lm --pooling none` writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    dim = dim if dim is not None else vectors.shape[1]
    shards = []
    for index, start in enumerate(range(0, max(len(vectors), 1), shard_rows)):
        part = vectors[start:start + shard_rows]
        token_index = np.arange(len(part), dtype=np.int32) % tokens_per_record
        ids = [f"r{(start + i) // tokens_per_record}" for i in range(len(part))]
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(part.reshape(-1), pa.float32()), dim)
        name = f"part-{index:05d}.parquet"
        pq.write_table(pa.table({"id": ids, "embedding": embedding, "token_index": token_index}), folder / name)
        shards.append({"index": index, "name": name, "rows": len(part), "records": -(-len(part) // tokens_per_record),
                       "complete": True})
    manifest = {"format_version": 1, "model": "synthetic", "encoder": "lm", "pooling": "none", "layer": layer,
                "dim": dim, "rows": len(vectors), "complete": True, "shards": shards}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_dictionary(folder: Path, atoms: np.ndarray, labels: list[str], layer: int = 1) -> Path:
    import polars as pl

    from concepts import ConceptDictionary, save_dictionary

    k = len(atoms)
    concepts = pl.DataFrame({"concept_id": [f"c{i}" for i in range(k)], "name": [f"concept{i}" for i in range(k)],
                             "synset": [""] * k, "gloss": [""] * k, "group": ["g"] * k, "label": labels,
                             "n_pos": [1] * k, "n_neg": [1] * k})
    dictionary = ConceptDictionary(layers=[layer], atoms={layer: torch.as_tensor(atoms)}, concepts=concepts)
    return save_dictionary(dictionary, folder)
