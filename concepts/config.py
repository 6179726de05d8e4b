"""`BuildConfig`: every option of `curate build-dictionary`, validated once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.config import StageConfig
from curate.errors import ConfigError

__all__ = ["BuildConfig"]


@dataclass(frozen=True)
class BuildConfig(StageConfig):
    out: Path
    """Output folder: concepts.parquet, stimuli.parquet, dictionary.safetensors, manifest.json, dictionary.png."""
    concepts: str = "wordnet"
    """'wordnet' (frequent noun synsets, one per lemma) or a concept list file (.txt one per line,
    .csv/.jsonl/.parquet with `name`)."""
    num_concepts: int = 15_000
    """Vocabulary size before near-duplicate merging (smaller = a quicker build)."""
    pool: str = "default"
    """'default' (WordNet glosses + examples and man-page sentences) or a Parquet/JSONL with `caption`/`text`
    (and `image` paths)."""
    pool_limit: int | None = None
    """Use a seeded random subset of this many pool stimuli (quick builds)."""
    model: str = "smollm2-135m"
    """Causal LM whose activations give the directions (registry name or folder)."""
    layers: str = "10,15,20"
    """Comma-separated hidden_states indices (1..num_layers; negative counts back) to build directions at."""
    retrieval_model: str = "minilm"
    """Sentence encoder for concept and stimulus embeddings (text pools)."""
    clip_model: str | None = None
    """open_clip architecture for image-caption pools (e.g. ViT-B-32): scores images and captions
    (cross-modal distance)."""
    clip_pretrained: Path | None = None
    """Local open_clip weights file for --clip-model (no CLIP weights ship offline)."""
    positives: int = 8
    """Positive stimuli per concept (closest by the concept-probability distance)."""
    negatives: int = 8
    """Negative stimuli per concept (farthest of the shared background sample)."""
    candidates: int = 32
    """FAISS nearest stimuli per concept that are re-ranked for positives."""
    background: int = 2048
    """Size of the random pool sample negatives are drawn from (shared by all concepts)."""
    scale: float = 20.0
    """Softmax scale t of the concept probability s(c, x) ∝ exp(t · cos(c, x)) (CLIP uses 100 on its own scores)."""
    min_similarity: float = 0.3
    """A positive needs cosine ≥ this with its concept; concepts with no such stimulus are dropped and reported."""
    index: Literal["auto", "flat", "ivf", "hnsw"] = "auto"
    """FAISS index over the pool: auto = flat up to 50,000 stimuli, IVF above."""
    merge_threshold: float = 0.95
    """Concepts whose directions (all layers) have cosine ≥ this with a more frequent concept merge into it."""
    label_data: bool = True
    """Label with MiniLM similarity to the registry's harmful prompts as well as the seed lexicon
    (off = lexicon only)."""
    harm_threshold: float = 0.6
    """Undesirable when MiniLM cosine to a harm-lexicon term ≥ this (or ≥ this − 0.15 and close to the harmful data)."""
    data_threshold: float = 0.5
    """Mean top-10 cosine with the registry's harmful prompts that lets a near-lexicon concept count as undesirable."""
    desirable_threshold: float = 0.6
    """Desirable when cosine to a desirable-lexicon term ≥ this (and not undesirable)."""
    labels: Path | None = None
    """CSV/JSONL/Parquet with name (or concept_id) and label columns that override the automatic labels."""
    batch_size: int = 32
    """Stimuli per forward pass."""
    max_length: int = 64
    """Tokens per stimulus (longer ones are truncated)."""
    work_dir: Path | None = None
    """Cache for pool/concept embeddings and activation shards (default OUT/work); a rerun resumes from it."""
    dask: str | None = None
    """Run the embedding and activation shards on Dask: local:N, local-threads:N or a scheduler address."""

    unused_fields = ("overwrite",)  # a rerun reuses the cached work (--work-dir) and writes the outputs again
    field_help = {"seed": "Seed for the pool subset and the negative background sample."}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "out", Path(self.out))
        for name in ("num_concepts", "positives", "negatives", "candidates", "background", "batch_size",
                     "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.pool_limit is not None and self.pool_limit < 1:
            raise ConfigError(f"--pool-limit {self.pool_limit}: must be at least 1 (or omit it)")
        if self.candidates < self.positives:
            raise ConfigError(f"--candidates {self.candidates} < --positives {self.positives}: retrieve at least "
                              "as many candidates as positives")
        if not 0 < self.merge_threshold <= 1:
            raise ConfigError(f"--merge-threshold {self.merge_threshold}: use a cosine in (0, 1] (1 = merge only "
                              "identical directions)")
        for name in ("harm_threshold", "data_threshold", "desirable_threshold"):
            if not -1 <= getattr(self, name) <= 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: a cosine threshold lies "
                                  "in [-1, 1]")
        if self.scale <= 0:
            raise ConfigError(f"--scale {self.scale}: must be positive")
        if not -1 <= self.min_similarity <= 1:
            raise ConfigError(f"--min-similarity {self.min_similarity}: a cosine threshold lies in [-1, 1]")
        if self.clip_pretrained is not None and self.clip_model is None:
            raise ConfigError("--clip-pretrained needs --clip-model (the open_clip architecture of the weights)")
        if self.clip_pretrained is not None and not Path(self.clip_pretrained).is_file():
            raise ConfigError(f"--clip-pretrained {self.clip_pretrained}: file not found")
        if self.labels is not None and not Path(self.labels).is_file():
            raise ConfigError(f"--labels {self.labels}: file not found")

    @property
    def work(self) -> Path:
        return Path(self.work_dir) if self.work_dir is not None else self.out / "work"
