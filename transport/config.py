"""SOTConfig: every option of `curate sot-weight`, validated before any work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from curate.config import StageConfig
from curate.errors import ConfigError
from embed.config import EmbedSettings

__all__ = ["SOTConfig"]


@dataclass(frozen=True)
class SOTConfig(StageConfig):
    out: Path
    """Output Parquet (input rows + sot_weight, pull_potential, push_potential, keep); OUT.json and OUT.png
    beside it."""
    data: str = "registry:contaminated-sft"
    """Corpus to weight: any input `curate embed` reads (file, glob, registry:NAME[:SPLIT]) or an embedding folder."""
    safe: str = "registry:safe-anchor"
    """Trusted safe anchor set (the pull side)."""
    harmful: str = "registry:harmful-reference"
    """Harmful reference set (the push side)."""
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    """How inputs that are not embedding folders are embedded (--model, --encoder, --layer, --batch-size)."""
    features: Literal["joint", "response", "pair"] = "pair"
    """What the weights see: joint = prompt+response in one text; response only; pair = prompt and response embedded
    separately, concatenated, normalised. Default chosen by measurement (python -m bench.sot.quality)."""
    id_field: str | None = None
    """Column holding stable row ids (default: an `id` column, else a content hash)."""
    method: Literal["sot", "uniform", "heuristic", "classifier", "pull-only", "push-only"] = "sot"
    """Weighting method: SOT push-pull, or a baseline: uniform; heuristic = nearest safe vs nearest harmful anchor;
    classifier = logistic regression on safe vs harmful anchor features; pull-only / push-only = one OT side."""
    beta: float = 1.0
    """Push strength: J = OT(w, safe) − beta·OT(w, harmful) + tau·KL(w ‖ uniform)."""
    eps: float = 0.05
    """Entropic regularisation of both OT problems (cost 1 − cos ∈ [0, 2])."""
    tau: float = 0.1
    """KL-to-uniform strength: larger keeps weights flatter (the weight spread is about exp(Δpotential/tau))."""
    eta: float = 0.5
    """Initial mirror-descent step (eta·tau = 0.05); --step-rule adaptive then grows it by 1.5 per accepted step up to
    eta·tau = 1 and halves it when a step raises J."""
    step_rule: Literal["adaptive", "fixed"] = "adaptive"
    """adaptive: reject a step that raises J and halve eta (the accepted objective trace is monotone, no period-2
    oscillation); fixed: constant eta (with eta·tau ≥ 0.1 J oscillated with period 2)."""
    rho: float | None = None
    """Semi-relaxed safe-anchor marginal penalty (KL) of the pull problem; None = balanced (dense/stream) and 0.1 for
    the sparse solver (a kNN graph rarely admits a balanced plan; 0.1 measured best, see README, SOT section)."""
    push_rho: float | None = None
    """Semi-relaxed harmful-marginal penalty of the push problem; None = balanced (dense/stream) and 0.1 for sparse.
    Kept small: a relaxed push marginal enters J as −beta·rho·KL(q_H ‖ b_H), a reward for concentrating weights."""
    max_outer: int = 60
    """Maximum mirror-descent steps."""
    tol: float = 1e-5
    """Stop when the objective's relative change is below this."""
    inner_max_iter: int = 200
    """Sinkhorn iterations per outer step at most (warm-started)."""
    inner_tol: float = 1e-4
    """Sinkhorn L1 anchor-marginal tolerance per outer step."""
    anderson: int = 5
    """Anderson-acceleration memory of the inner Sinkhorn (0 = plain iterations); removes the slow per-cluster mass
    modes of the semi-relaxed (sparse) problem."""
    keep_fraction: float | None = None
    """Top-K selection as a fraction of rows (default 0.9 when --top-k is not given)."""
    top_k: int | None = None
    """Top-K selection as a row count (exclusive with --keep-fraction)."""
    solver: Literal["auto", "dense", "sparse", "stream"] = "auto"
    """dense below 5e7 cost entries (stream on CUDA above), sparse kNN otherwise."""
    knn: int = 32
    """Anchors kept per source by the sparse solver."""
    anchor_clusters: int | None = None
    """Compress each anchor set to this many k-means centroids (masses = cluster sizes); sparse default 2048."""
    heuristic_temperature: float = 0.05
    """Softmax temperature turning the heuristic baseline's risk score into weights (when --temperature is unset)."""
    temperature: float | None = None
    """Softmax temperature of the heuristic and classifier weights n·softmax(−risk/T); default 0.05 for heuristic
    (--heuristic-temperature) and 0.1 for classifier. Tune it on validation corpora (bench/sot/family.py)."""
    dtype: Literal["float32", "float64"] = "float32"
    """Solver precision."""
    dask: str | None = None
    """Dask scheduler address, local:N (N local workers) or threads; source shards become tasks of the distributed
    Sinkhorn."""
    embeddings_cache: Path | None = None
    """Folder caching embeddings by (input fingerprint, model, features); default cache_dir()/embeddings."""
    on_error: Literal["fail", "skip"] = "fail"
    """Rows with NaN/zero embeddings: fail naming them, or skip (dropped and counted)."""

    field_help = {"device": "Where the solver (and the embedding of inputs) runs: auto, cpu, cuda or cuda:N.",
                  "seed": "Seed for k-means, IVF training and sampling; same seed → identical weights.",
                  "overwrite": "Replace an existing OUT.parquet."}

    def __post_init__(self) -> None:
        super().__post_init__()
        positive = {"eps": self.eps, "eta": self.eta, "max_outer": self.max_outer, "knn": self.knn,
                    "inner_max_iter": self.inner_max_iter, "heuristic_temperature": self.heuristic_temperature}
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0 (got {value})")
        self._check_temperature()
        if self.anderson < 0:
            raise ConfigError(f"--anderson must be ≥ 0 (got {self.anderson}); 0 turns the acceleration off")
        if not self.tau > 0:
            raise ConfigError(f"--tau must be > 0 (got {self.tau}): without the KL-to-uniform term the weights "
                              "collapse onto a few rows; 0.1 is the default (--tau and --beta are strengths: tau > 0, "
                              "beta ≥ 0)")
        if self.beta < 0:
            raise ConfigError(f"--beta must be ≥ 0 (got {self.beta}); 0 turns the push off (--tau and --beta are "
                              "strengths: tau > 0, beta ≥ 0)")
        for name, value in (("tol", self.tol), ("inner-tol", self.inner_tol)):
            if value < 0:
                raise ConfigError(f"--{name} must be ≥ 0 (got {value}); 0 runs every allowed iteration")
        if self.embed.batch_size < 1:
            raise ConfigError(f"--batch-size must be ≥ 1 (got {self.embed.batch_size})")
        for name, value in (("rho", self.rho), ("push-rho", self.push_rho)):
            if value is not None and not value > 0:
                raise ConfigError(f"--{name} must be > 0 (got {value}); leave it unset for balanced OT")
        if self.keep_fraction is not None and self.top_k is not None:
            raise ConfigError("--keep-fraction and --top-k are exclusive; give one")
        if self.keep_fraction is not None and not 0 < self.keep_fraction <= 1:
            raise ConfigError(f"--keep-fraction must be in (0, 1] (got {self.keep_fraction})")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"--top-k must be ≥ 1 (got {self.top_k})")
        if self.anchor_clusters is not None and self.anchor_clusters < 1:
            raise ConfigError(f"--anchor-clusters must be ≥ 1 (got {self.anchor_clusters})")
        if Path(self.out).suffix != ".parquet":
            raise ConfigError(f"--out must name a .parquet file (got {self.out}), e.g. --out runs/weighted.parquet")

    def _check_temperature(self) -> None:
        if self.temperature is None:
            return
        if self.method not in ("heuristic", "classifier"):
            raise ConfigError(f"--temperature {self.temperature} applies to --method heuristic or classifier, not "
                              f"{self.method}; drop --temperature or change --method")
        if not self.temperature > 0:
            raise ConfigError(f"--temperature must be > 0 (got {self.temperature})")
