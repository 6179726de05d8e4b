"""`EmbedConfig`: every option of `curate embed`, validated once; `EmbedSettings`: how another stage embeds."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.config import StageConfig
from curate.errors import ConfigError

__all__ = ["EmbedConfig", "EmbedSettings", "DEFAULT_MODELS", "template_fields"]

DEFAULT_MODELS = {"text": "minilm", "lm": "smollm2-135m", "clip": "ViT-B-32"}
_DASK_ADDRESS = re.compile(r"^(local(-threads)?:[1-9][0-9]*|(tcp|tls|ucx|inproc)://.+)$")


def template_fields(template: str) -> list[str]:
    """The placeholder names of a `{prompt}\\n{response}`-style template, in order."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as err:
        raise ConfigError(f"--template {template!r} is not a valid format string ({err}); "
                          "write fields as {prompt} and {response}, and a literal brace as {{ or }}") from err
    for name in names:
        if not name or not name.isidentifier():
            raise ConfigError(f"--template {template!r}: placeholder {{{name}}} must name a field, "
                              "e.g. {prompt}, {response} or a column name")
    return names


@dataclass(frozen=True)
class EmbedConfig(StageConfig):
    inputs: tuple[str, ...]
    """Input files: JSONL, Parquet, CSV, Hugging Face save_to_disk folders, globs, or registry:NAME[:SPLIT]."""
    out: Path
    """Output folder for part-NNNNN.parquet shards and manifest.json."""
    model: str | None = None
    """Model: registry name, local folder or hub id (default: minilm for text, smollm2-135m for lm,
    ViT-B-32 for clip)."""
    encoder: Literal["text", "lm", "clip"] = "text"
    """text = sentence encoder, masked mean pool + L2 norm; lm = causal-LM hidden states at --layer;
    clip = open_clip."""
    prompt_field: str = "prompt"
    """Input column rendered as {prompt} in the template."""
    response_field: str = "response"
    """Input column rendered as {response} (a null or absent response renders as empty text)."""
    template: str = "{prompt}\n{response}"
    """How a record becomes the embedded text; placeholders are prompt, response or any column name."""
    id_field: str | None = None
    """Column holding record ids (default: an `id` column if present, else a content hash of prompt and response)."""
    batch_size: int = 64
    """Records per forward pass."""
    shard_size: int | None = None
    """Records per output shard, the unit of resumption and of Dask tasks (default 10000; 1000 with --pooling none)."""
    layer: int | None = None
    """lm encoder: index into hidden_states (0 = embeddings, L = last layer; negative counts back; default L // 2)."""
    pooling: Literal["mean", "last", "none"] = "mean"
    """mean over tokens, last token (lm only), or none = one row per token (lm only; SAE training data)."""
    dtype: Literal["float32", "float16"] = "float32"
    """Storage dtype of the embedding column."""
    max_length: int = 256
    """Tokens per text; longer texts are truncated."""
    precision: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """Compute dtype: auto = float16 on CUDA, float32 on CPU."""
    dask: str | None = None
    """Run shards on Dask: local:N (LocalCluster with N processes), local-threads:N, or a scheduler address tcp://..."""
    on_error: Literal["fail", "skip"] = "fail"
    """fail on the first bad record, or skip bad records and count them in the manifest."""
    image_field: str | None = None
    """clip encoder: column with image paths (relative to the input file) to embed with the image tower."""
    clip_model: str | None = None
    """clip encoder: open_clip architecture name (same as --model; default ViT-B-32)."""
    clip_pretrained: Path | None = None
    """clip encoder: weights file (.pt/.bin/.safetensors); without it the model has random weights (tests only)."""

    unused_fields = ("seed",)  # embedding is deterministic: nothing to seed
    field_help = {"overwrite": "Replace an existing output folder written with other settings, model or input.",
                  "progress": "Show a progress bar with rows/s."}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "inputs", tuple(str(i) for i in self.inputs))
        object.__setattr__(self, "out", Path(self.out))
        if not self.inputs:
            raise ConfigError("curate embed needs at least one INPUT (a file, glob, folder or registry:NAME)")
        if self.encoder not in DEFAULT_MODELS:
            raise ConfigError(f"--encoder {self.encoder!r} is not one of text, lm, clip")
        if self.clip_model is not None and self.encoder != "clip":
            raise ConfigError(f"--clip-model {self.clip_model} applies to --encoder clip, not {self.encoder}")
        if self.encoder == "clip" and self.clip_model and self.model and self.clip_model != self.model:
            raise ConfigError(f"--model {self.model} and --clip-model {self.clip_model} disagree; give one of them")
        model = self.model or (self.clip_model if self.encoder == "clip" else None) or DEFAULT_MODELS[self.encoder]
        object.__setattr__(self, "model", model)
        if self.shard_size is None:
            object.__setattr__(self, "shard_size", 1_000 if self.pooling == "none" else 10_000)
        self._check_numbers()
        self._check_encoder_options()
        template_fields(self.template)
        if self.dask is not None and not _DASK_ADDRESS.match(self.dask):
            raise ConfigError(f"--dask {self.dask!r}: use local:N, local-threads:N or a scheduler address "
                              "such as tcp://10.0.0.1:8786")

    def _check_numbers(self) -> None:
        for name in ("batch_size", "shard_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)} must be at least 1")

    def _check_encoder_options(self) -> None:
        if self.pooling not in ("mean", "last", "none"):
            raise ConfigError(f"--pooling {self.pooling!r} is not one of mean, last, none")
        if self.encoder != "lm" and self.pooling != "mean":
            raise ConfigError(f"--pooling {self.pooling} needs --encoder lm (the {self.encoder} encoder "
                              "pools by its own rule); drop --pooling or use --encoder lm")
        if self.encoder != "lm" and self.layer is not None:
            raise ConfigError(f"--layer {self.layer} needs --encoder lm; drop --layer or use --encoder lm")
        if self.image_field is not None and self.encoder != "clip":
            raise ConfigError(f"--image-field {self.image_field} needs --encoder clip")
        if self.clip_pretrained is not None and self.encoder != "clip":
            raise ConfigError(f"--clip-pretrained {self.clip_pretrained} needs --encoder clip")
        if self.clip_pretrained is not None and not Path(self.clip_pretrained).exists():
            raise ConfigError(f"--clip-pretrained {self.clip_pretrained}: file not found; give a local weights file")

    @property
    def fields(self) -> tuple[str, ...]:
        """The input columns a record's content hash (and so its default id) is computed from."""
        if self.image_field is not None:
            return (self.image_field,)
        return (self.prompt_field, self.response_field)


@dataclass(frozen=True)
class EmbedSettings:
    """The model options a stage that embeds its inputs through `embed` (SOT) passes on; they map to EmbedConfig."""

    model: str = "minilm"
    """Embedding model (registry name or local path)."""
    encoder: Literal["text", "lm"] = "text"
    """Encoder kind: sentence encoder, or a causal LM's hidden states (--layer)."""
    layer: int | None = None
    """Hidden-state layer for --encoder lm (hidden_states index; default: the embed stage's)."""
    batch_size: int = 64
    """Embedding batch size."""

    def embed_config(self, inputs: tuple[str, ...], out: Path, **options) -> EmbedConfig:
        """The `curate embed` job for these settings; `options` sets the other EmbedConfig fields."""
        layer = {} if self.layer is None else {"layer": self.layer}
        return EmbedConfig(inputs=inputs, out=out, model=self.model, encoder=self.encoder,
                           batch_size=self.batch_size, **layer, **options)
