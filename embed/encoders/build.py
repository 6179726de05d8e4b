"""`EncoderBuilder`: the picklable recipe that builds the configured encoder inside whichever process runs it."""

from __future__ import annotations

from dataclasses import dataclass

from embed.encoders.base import Encoder
from embed.encoders.text import TextEncoder

__all__ = ["EncoderBuilder"]


@dataclass(frozen=True)
class EncoderBuilder:
    """A picklable recipe for the encoder a config asks for; called once per worker (Dask) or process."""

    config: object  # EmbedConfig

    @property
    def cache_key(self) -> str:
        from curate.config import config_to_dict

        c = config_to_dict(self.config)
        return repr({k: c[k] for k in ("model", "encoder", "layer", "pooling", "max_length", "batch_size",
                                         "device", "precision", "clip_pretrained", "image_field")})

    def __call__(self) -> Encoder:
        from curate.device import autocast_dtype, resolve_device

        config = self.config
        device = resolve_device(config.device)
        precision = autocast_dtype(device, "float16" if config.precision == "auto" and device.type == "cuda"
                                   else config.precision)
        common = {"batch_size": config.batch_size, "device": device, "dtype": precision}
        if config.encoder == "text":
            from curate.models import load_text_encoder

            tokenizer, model = load_text_encoder(config.model, progress=config.progress)
            return TextEncoder(tokenizer, model, max_length=config.max_length, **common)
        if config.encoder == "lm":
            from curate.models import load_causal_lm
            from embed.encoders.lm import CausalLMEncoder

            tokenizer, model = load_causal_lm(config.model, progress=config.progress)
            return CausalLMEncoder(tokenizer, model, layer=config.layer, pooling=config.pooling,
                                   max_length=config.max_length, **common)
        from embed.encoders.clip import ClipEncoder

        return ClipEncoder.build(config.model, config.clip_pretrained, images=config.image_field is not None,
                                 **common)
