"""Embedding tables of texts (or images) through `embed.run`, cached in the build's work folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["embed_frame", "write_if_changed"]


def write_if_changed(frame, path: Path) -> Path:
    """Write `frame` to Parquet unless the file already holds the same ids and texts (keeps caches valid)."""
    import polars as pl

    from curate.io import write_parquet

    if path.is_file():
        old = pl.read_parquet(path)
        if old.columns == frame.columns and old.equals(frame):
            return path
    write_parquet(frame, path)
    return path


def embed_frame(frame, folder: Path, *, model: str, encoder: str = "text", image_field: str | None = None,
                clip_pretrained: Path | None = None, batch_size: int = 128, max_length: int = 64,
                device: str = "auto", dask: str | None = None, progress: bool = True) -> np.ndarray:
    """[n, d] unit vectors of `frame` rows (columns id, text[, image]) in frame order; shards under `folder`."""
    from embed import EmbedConfig, read_embeddings, run

    folder.mkdir(parents=True, exist_ok=True)
    source = write_if_changed(frame, folder.with_name(folder.name + ".parquet"))
    config = EmbedConfig(inputs=(str(source),), out=folder, model=model, encoder=encoder, template="{prompt}",
                         prompt_field="text", id_field="id", batch_size=batch_size, max_length=max_length,
                         device=device, dask=dask,
                         image_field=image_field, clip_pretrained=clip_pretrained, shard_size=4_000,
                         progress=progress)
    run(config)
    emb = read_embeddings(folder)
    position = {i: k for k, i in enumerate(emb.ids)}
    return emb.vectors[[position[i] for i in frame["id"].to_list()]]
