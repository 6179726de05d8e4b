"""`run(config)`: inputs → shard jobs → runner → shards + manifest; resumes a folder left by a stopped run."""

from __future__ import annotations

import time
from pathlib import Path

from curate.config import save_config
from embed.config import EmbedConfig
from embed.manifest import Manifest
from embed.readers import estimate_rows, expand_inputs, input_fingerprint
from embed.records import RowErrors
from embed.store import EmbeddingSet

__all__ = ["run", "manifest_header"]


def _model_facts(config: EmbedConfig) -> tuple[str, int | None]:
    """(weights fingerprint, resolved layer); an unknown model name fails here, before any work."""
    if config.encoder == "clip":
        from embed.records import content_hash

        weights = Path(config.clip_pretrained) if config.clip_pretrained else None
        stat = weights.stat() if weights else None
        return content_hash([config.model, str(weights), stat.st_size if stat else None]), None
    from curate.models import model_fingerprint, resolve_model_path

    fingerprint = model_fingerprint(config.model)
    if config.encoder != "lm":
        return fingerprint, None
    from transformers import AutoConfig

    from embed.encoders.lm import resolve_layer

    model_config = AutoConfig.from_pretrained(resolve_model_path(config.model))
    return fingerprint, resolve_layer(config.layer, int(model_config.num_hidden_layers))


def manifest_header(config: EmbedConfig, sources) -> dict:
    """What identifies this job's output: a rerun continues the folder only if all of it matches."""
    fingerprint, layer = _model_facts(config)
    settings = {k: getattr(config, k) for k in ("template", "prompt_field", "response_field", "id_field",
                                                 "image_field", "max_length", "shard_size")}
    return {"model": config.model, "model_fingerprint": fingerprint, "encoder": config.encoder,
            "pooling": "mean" if config.encoder != "lm" else config.pooling, "layer": layer, "dtype": config.dtype,
            "normalized": config.encoder != "lm", "input_fingerprint": input_fingerprint(sources),
            "inputs": list(config.inputs), "settings": settings}


def _progress_bar(config: EmbedConfig, sources):
    from tqdm.auto import tqdm

    totals = [estimate_rows(s) for s in sources] if config.progress else [None]
    total = None if None in totals else sum(totals)
    return tqdm(total=total, unit="row", unit_scale=True, desc="embed", disable=not config.progress,
                dynamic_ncols=True, smoothing=0.1)


def run(config: EmbedConfig, builder=None) -> EmbeddingSet:
    """Embed the inputs into `config.out`; returns an EmbeddingSet that reads the folder when first used.

    `builder` makes the encoder (default: `EncoderBuilder(config)`); tests pass a fake one.
    """
    from curate.device import apply_threads
    from curate.io import check_output
    from embed._jobs import iter_shard_jobs
    from embed.encoders import EncoderBuilder
    from embed.runner import run_dask, run_local

    check_output(config.out, "folder", inputs=config.inputs)
    apply_threads(config)
    started = time.perf_counter()
    sources = [s for spec in config.inputs for s in expand_inputs(spec)]
    manifest = Manifest.open(config.out, manifest_header(config, sources), overwrite=config.overwrite)
    save_config(config, Path(config.out) / "embed_config.json")
    errors = RowErrors(config.on_error)
    encoder_failures = RowErrors("skip")

    def report(failures) -> None:
        for where, why in failures:
            encoder_failures.bad(where, why, "")

    runner = run_dask if config.dask else run_local
    with _progress_bar(config, sources) as bar:
        runner(iter_shard_jobs(config, sources, errors), builder or EncoderBuilder(config), manifest, config,
               report, bar)
    skipped_before = sum(s.get("skipped", 0) for s in manifest.data["shards"]) - encoder_failures.count
    skipped = {"count": errors.count + encoder_failures.count + skipped_before,
               "examples": (errors.examples + encoder_failures.examples)[:20]}
    manifest.finish(skipped, time.perf_counter() - started)
    return EmbeddingSet(manifest=manifest.data, folder=Path(config.out))
