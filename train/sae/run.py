"""`curate train sae`: a sparse autoencoder (random or dictionary-initialised) on per-token LM activations (DACO).

    from train.sae import SAEConfig, run, load_sae, load_sae_controller
    run(SAEConfig(activations=Path("runs/acts/l15"), dictionary=Path("runs/dict"), out=Path("runs/sae")))
    controller = load_sae_controller("runs/sae", gamma=0.0)      # curate.evaluation Controller
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from curate.config import StageConfig
from curate.errors import ConfigError, InputError

if TYPE_CHECKING:
    from train.sae.model import SparseAutoencoder

__all__ = ["SAEConfig", "run", "default_lr"]


def default_lr(width: int) -> float:
    """2e-4 / sqrt(width / 2^14): the learning-rate scaling for TopK SAEs of Gao et al. (2024)."""
    return 2e-4 / math.sqrt(width / 2 ** 14)


@dataclass(frozen=True)
class SAEConfig(StageConfig):
    activations: Path
    """Per-token activations: the --out of `curate embed ... --encoder lm --pooling none --layer L`."""
    out: Path
    """Output folder: sae.safetensors, sae.json, annotations.parquet, metrics.json, training_curve.png."""
    dictionary: Path | None = None
    """Concept dictionary folder (`curate build-dictionary`): initialises the decoder and labels the atoms."""
    layer: int | None = None
    """Layer (hidden_states index) to train at; default: the activations' layer, which must match if given."""
    arch: Literal["topk", "batchtopk", "relu-l1"] = "topk"
    """topk = k codes per token; batchtopk = k x batch codes per batch (threshold at inference); relu-l1 = ReLU + L1."""
    k: int = 32
    """Active latents per token (topk, batchtopk)."""
    expansion: int = 8
    """Latents = expansion x activation dimension."""
    init: Literal["dictionary", "random"] = "random"
    """random (default) = random unit atoms, the dictionary (if given) only labels them; dictionary = the K concept
    directions are the first K decoder rows (encoder = transpose), the rest random (DACO's initialisation). Random
    is the default because it reconstructed held-out activations measurably better at equal budget (SmolLM2
    layer 15, 3 seeds: FVU 0.128 vs 0.163; README, `curate train sae`)."""
    init_fill: float | None = None
    """--init dictionary: the share of latents that start as dictionary atoms, ceil(share x latents) of them
    (1.0 = the whole decoder, as the DACO paper); labelled atoms go first, then neutral ones in a seeded order.
    Default: each dictionary atom takes one latent, the rest start random."""
    steps: int = 2000
    """Optimiser steps."""
    batch_size: int = 1024
    """Tokens per step."""
    lr: float | None = None
    """Adam learning rate (default 2e-4 / sqrt(latents / 16384))."""
    warmup_steps: int = 50
    """Linear learning-rate warm-up steps."""
    auxk_alpha: float = 1 / 32
    """Weight of the AuxK loss that revives dead latents (topk, batchtopk)."""
    aux_k: int | None = None
    """Dead latents used by AuxK per token (default dimension / 2)."""
    l1_coeff: float = 0.01
    """relu-l1: weight of the L1 penalty (codes summed per token over the RMS activation spread)."""
    dead_after_tokens: int = 100_000
    """A latent that has not fired for this many training tokens counts as dead."""
    buffer_rows: int = 65_536
    """Shuffle buffer, in tokens: rows from several shards are mixed before batching."""
    skip_first_token: bool = True
    """Drop each record's first token (an attention sink with an outsized norm in most LMs)."""
    eval_activations: Path | None = None
    """Held-out per-token activations (same model and layer) for the final FVU / L0 / dead figures."""
    eval_tokens: int = 50_000
    """At most this many held-out tokens are scored."""
    eta: float = 0.2
    """Annotation threshold: an atom is undesirable/desirable when its cosine to that centroid is >= eta."""
    checkpoint_every: int = 200
    """Save a resumable checkpoint every N steps (0 = never); a rerun continues from it."""

    field_help = {"seed": "Seed for the random atoms and the batch order.",
                  "overwrite": "Replace a finished SAE in --out instead of refusing.",
                  "threads": "CPU threads for torch and BLAS (default or 0: the libraries' choice); on a busy shared "
                             "CPU 1 thread was 4x faster than 2."}

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("k", "expansion", "steps", "batch_size", "buffer_rows", "eval_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.init == "dictionary" and self.dictionary is None:
            raise ConfigError("--init dictionary needs --dictionary DIR (a concept dictionary folder); "
                              "or pass --init random")
        if self.init_fill is not None and not 0 < self.init_fill <= 1:
            raise ConfigError(f"--init-fill {self.init_fill}: a share of the latents, in (0, 1]")
        if self.init_fill is not None and self.init != "dictionary":
            raise ConfigError(f"--init-fill {self.init_fill} with --init {self.init}: the fill share only applies "
                              "to --init dictionary; drop --init-fill or pass --init dictionary")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"--lr {self.lr}: must be > 0")
        if self.buffer_rows < self.batch_size:
            raise ConfigError(f"--buffer-rows {self.buffer_rows} is below --batch-size {self.batch_size}; raise it")
        for name in ("auxk_alpha", "l1_coeff", "warmup_steps", "dead_after_tokens", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 0")
        if self.aux_k is not None and self.aux_k < 1:
            raise ConfigError(f"--aux-k {self.aux_k}: must be >= 1 (or omit it for dimension / 2)")
        if not -1 <= self.eta <= 1:
            raise ConfigError(f"--eta {self.eta}: the annotation threshold is a cosine, in [-1, 1]")


def _check_out(config: SAEConfig) -> None:
    out = Path(config.out)
    if (out / "metrics.json").exists() and not config.overwrite:
        raise ConfigError(f"--out {out}: already holds a trained SAE; pass --overwrite or choose another folder")
    if config.overwrite:
        for name in ("metrics.json", "sae.safetensors", "sae.json", "annotations.parquet", "checkpoint.pt"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "checkpoint", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def _layer(config: SAEConfig, source) -> int | None:
    if config.layer is not None and source.layer is not None and config.layer != source.layer:
        raise InputError(f"--layer {config.layer}: the activations in {config.activations} were taken at layer "
                         f"{source.layer}; pass --layer {source.layer} or embed layer {config.layer}")
    return config.layer if config.layer is not None else source.layer


def _dictionary(config: SAEConfig, layer: int | None, dim: int):
    if config.dictionary is None:
        return None, None
    from concepts.dictionary_io import load_dictionary

    dictionary = load_dictionary(config.dictionary)
    if layer is None or layer not in dictionary.atoms:
        raise InputError(f"--dictionary {config.dictionary} has atoms for layers {dictionary.layers}, not for the "
                         f"activations' layer {layer}; build the dictionary at layer {layer}")
    atoms = dictionary.atoms[layer]
    if atoms.shape[1] != dim:
        raise InputError(f"--dictionary {config.dictionary} atoms are {atoms.shape[1]}-d but the activations in "
                         f"{config.activations} are {dim}-d; use a dictionary built from the same model")
    return dictionary, atoms


def _build(config: SAEConfig, source, layer, atoms, device) -> SparseAutoencoder:
    import torch

    from train.sae.model import SAEShape, SparseAutoencoder

    num_concepts = len(atoms) if config.init == "dictionary" else 0
    shape = SAEShape(dim=source.dim, width=config.expansion * source.dim, arch=config.arch, k=config.k,
                     layer=layer, model=source.manifest.get("model"), num_concepts=num_concepts)
    sae = SparseAutoencoder(shape, seed=config.seed)
    if num_concepts:
        sae.init_from_atoms(atoms)
    with torch.no_grad():  # start the decoder bias at the data mean: codes then explain deviations
        sae.b_dec.copy_(torch.as_tensor(source.sample(config.buffer_rows, config.seed).mean(0)))
    return sae.to(device)


def _options(config: SAEConfig, width: int):
    from train.sae.fit import FitOptions

    return FitOptions(steps=config.steps, batch_size=config.batch_size, lr=config.lr or default_lr(width),
                      warmup_steps=config.warmup_steps, auxk_alpha=config.auxk_alpha, aux_k=config.aux_k,
                      l1_coeff=config.l1_coeff, dead_after_tokens=config.dead_after_tokens,
                      buffer_rows=config.buffer_rows, checkpoint_every=config.checkpoint_every, seed=config.seed,
                      progress=config.progress)


def _held_out(config: SAEConfig, sae, source) -> dict | None:
    from train.sae.data import open_activations
    from train.sae.metrics import evaluate

    if config.eval_activations is None:
        return None
    held = open_activations(config.eval_activations, skip_first_token=config.skip_first_token,
                            option="--eval-activations")
    if held.dim != source.dim or held.layer != source.layer:
        raise InputError(f"--eval-activations {config.eval_activations}: {held.dim}-d at layer {held.layer}, but "
                         f"training used {source.dim}-d at layer {source.layer}; embed the same layer")
    return evaluate(sae, held.sample(config.eval_tokens, config.seed))


def _write_outputs(config: SAEConfig, sae, dictionary, history: list[dict], summary: dict) -> None:
    from curate.config import save_config
    from curate.io import atomic_write_text, write_parquet
    from train.sae.annotate import annotate_atoms
    from train.sae.metrics import plot_training_curve
    from train.sae.model import save_sae

    out = Path(config.out)
    save_sae(sae, out, init=config.init, activations=str(config.activations),
             dictionary=str(config.dictionary) if config.dictionary else None)
    if dictionary is not None:
        table = annotate_atoms(sae.W_dec, dictionary, sae.shape.layer, config.eta, sae.shape.num_concepts)
        write_parquet(table, out / "annotations.parquet")
        summary["atoms_by_label"] = dict(table["label"].value_counts().iter_rows())
    save_config(config, out / "sae_config.json")
    plot_training_curve(history, out / "training_curve.png", f"SAE {sae.shape.arch} k={sae.shape.k} init={config.init}",
                        held_out=summary.get("held_out"))
    rounded = [{k: round(v, 6) if isinstance(v, float) else v for k, v in h.items()} for h in history]
    atomic_write_text(out / "metrics.json", json.dumps({**summary, "history": rounded}, indent=2) + "\n")


def run(config: SAEConfig) -> dict:
    """Train, annotate and save the SAE; returns the summary also written to metrics.json."""
    from curate.device import apply_threads, resolve_device
    from curate.io import check_output
    from train.sae.data import open_activations
    from train.sae.fit import CHECKPOINT_NAME, fit

    check_output(config.out, "folder", inputs=(config.activations, config.dictionary, config.eval_activations))
    _check_out(config)
    apply_threads(config)
    source = open_activations(config.activations, skip_first_token=config.skip_first_token)
    layer = _layer(config, source)
    dictionary, atoms = _dictionary(config, layer, source.dim)
    if atoms is not None and config.init == "dictionary":
        from train.sae.init import select_init_atoms

        labels = [str(label) for label in dictionary.concepts["label"].to_list()]
        atoms = select_init_atoms(atoms, labels, config.expansion * source.dim, config.init_fill, config.seed)
    device = resolve_device(config.device)
    sae = _build(config, source, layer, atoms, device)
    options = _options(config, sae.width)
    started = time.perf_counter()
    checkpoint = Path(config.out) / CHECKPOINT_NAME if config.checkpoint_every else None
    history = fit(sae, source, options, checkpoint)
    seconds = time.perf_counter() - started
    final = history[-1]
    summary = {"steps": config.steps, "tokens": config.steps * config.batch_size, "width": sae.width,
               "arch": config.arch, "k": config.k, "init": config.init,
               "dictionary_share": round(sae.shape.num_concepts / sae.width, 6), "layer": layer, "lr": options.lr,
               "dictionary_atoms": sae.shape.num_concepts, "device": str(device), "seconds": round(seconds, 2),
               "resumed_from_step": final.get("resumed_from_step", 0),
               "final": {k: final[k] for k in ("loss", "fvu", "l0", "dead_pct")},
               "held_out": _held_out(config, sae, source)}
    _write_outputs(config, sae, dictionary, history, summary)
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return summary
