"""The embedding stage: inputs (files, folders, registry datasets) → Parquet shards of vectors + manifest.json."""

from embed.config import EmbedConfig
from embed.encoders import Encoded, Encoder, EncoderBuilder
from embed.readers import open_input
from embed.records import record_ids, render_texts
from embed.run import run
from embed.store import EmbeddingSet, iter_embedding_shards, read_embeddings, read_manifest

__all__ = [
    "EmbedConfig",
    "run",
    "EmbeddingSet",
    "read_embeddings",
    "read_manifest",
    "iter_embedding_shards",
    "open_input",
    "record_ids",
    "render_texts",
    "Encoder",
    "Encoded",
    "EncoderBuilder",
]
