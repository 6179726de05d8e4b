"""The Dask actor that holds one worker's shards for the distributed SOT solve (driver side: distributed.py).

A `ShardGroup` reads its shards where it runs (transport.dask_shards), builds and keeps each shard's kernel on
--device (kNN-sparse: a FAISS search of the shard's rows against the broadcast anchors; stream: the rows
themselves) and every per-row vector of the solve: log-weights, potentials, Sinkhorn scalings. The driver sends
O(m) arrays and scalars; every method maps over the group's shards and merges their partials, so a reply is
O(m) however many rows the worker holds: per-anchor sums, or per-anchor log-sum-exp pairs (max, Σ exp(v − max)).

The arithmetic is that of transport/sinkhorn.py and transport/pushpull.py, split at the row/anchor boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from transport.baselines import classifier_scores, heuristic_scores
from transport.dask_kernels import KernelSettings, build_kernel, col_pair
from transport.dask_shards import ShardSource, read_ids, read_shard
from transport.stream import merge_lse

__all__ = ["ShardGroup"]


@dataclass
class _Shard:
    """One shard: where its rows are, its good-row mask once read, kernels per problem, named per-row tensors.

    The vectors themselves are dropped once the kernels are built (a stream kernel keeps them as its rows)."""

    source: ShardSource
    good: np.ndarray | None = None
    bad_ids: list[str] = field(default_factory=list)
    kernels: dict = field(default_factory=dict)
    vec: dict = field(default_factory=dict)
    scaling: dict = field(default_factory=dict)

    @property
    def index(self) -> int:
        return self.source.index

    def read(self) -> np.ndarray:
        """The shard's clean unit vectors [good rows, d]; records the good-row mask and the first bad ids."""
        rows = read_shard(self.source)
        self.good, self.bad_ids = rows.good, rows.bad_ids
        return rows.vectors


def _pair_sum(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[np.ndarray, np.ndarray]:
    top, total = pairs[0]
    for block_top, block_total in pairs[1:]:
        top, total = merge_lse(top, total, block_top, block_total)
    return top.cpu().numpy(), total.cpu().numpy()


class ShardGroup:
    """The shards one Dask worker holds; created with `client.submit(ShardGroup, ..., actor=True)`."""

    def __init__(self, sources: list[ShardSource]):
        self.shards = [_Shard(s) for s in sources]
        self.settings: KernelSettings | None = None

    # -- set-up ---------------------------------------------------------------------------------------------
    def summary(self) -> list[dict]:
        """Per shard read so far: index, rows read, good rows, bad rows and the first bad ids."""
        return [{"index": s.index, "rows": len(s.good), "good": int(s.good.sum()), "bad": int((~s.good).sum()),
                 "bad_ids": s.bad_ids} for s in self.shards if s.good is not None]

    def device(self) -> str:
        """Where this worker's kernels live (--device resolved on the worker)."""
        return str(self.settings.torch_device)

    def read_rows(self) -> None:
        """Read every shard once for its good-row mask (the uniform baseline needs nothing else)."""
        for shard in self.shards:
            shard.read()

    def build(self, anchors: dict[str, np.ndarray], settings: KernelSettings) -> dict[str, np.ndarray | None]:
        """Read each shard and build its kernel per problem, one shard at a time (so only one shard's vectors are
        held while building); returns per problem the anchors' edge counts [m] (sparse) or None (stream)."""
        self.settings = settings
        counts: dict[str, list] = {name: [] for name in anchors}
        for shard in self.shards:
            x = shard.read()
            for name, y in anchors.items():
                shard.kernels[name] = build_kernel(x, y, settings)
                counts[name].append(_edge_counts(shard.kernels[name]))
        return {name: None if not c or c[0] is None else np.sum(c, axis=0) for name, c in counts.items()}

    # -- per-row helpers ------------------------------------------------------------------------------------
    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(array).to(device=self.settings.torch_device, dtype=self.settings.torch_dtype)

    # -- mirror-descent state (pushpull.py) -----------------------------------------------------------------
    def reset_weights(self, log_n: float) -> None:
        for s in self.shards:
            s.vec["log_w"] = torch.full((int(s.good.sum()),), -log_n, dtype=self.settings.torch_dtype,
                                        device=self.settings.torch_device)

    def exp_weights(self) -> None:
        for s in self.shards:
            s.vec["w"] = torch.exp(s.vec["log_w"])
            s.vec["log_a"] = torch.log(s.vec["w"])

    def zero_potential(self, problem: str) -> None:
        for s in self.shards:
            s.vec[f"f_{problem}"] = torch.zeros_like(s.vec["w"])

    def point_sums(self, log_n: float) -> np.ndarray:
        """[Σ f_pull, Σ f_push, Σ w (log w + log n)] over the group's rows."""
        total = np.zeros(3)
        for s in self.shards:
            log_w = s.vec["log_w"]
            total += [float(s.vec["f_pull"].sum()), float(s.vec["f_push"].sum()),
                      float((torch.exp(log_w) * (log_w + log_n)).sum())]
        return total

    def accept(self, mean_pull: float, mean_push: float) -> None:
        """The current point becomes the best: its log-weights and centred potentials."""
        for s in self.shards:
            s.vec["best_log_w"] = s.vec["log_w"]
            s.vec["best_pull"] = s.vec["f_pull"] - mean_pull
            s.vec["best_push"] = s.vec["f_push"] - mean_push

    def step_pair(self, eta: float, beta: float, tau: float, log_n: float) -> np.ndarray:
        """z = log w* − eta ∇J(w*) per row; returns the group's (max z, Σ exp(z − max)) for the softmax."""
        pairs = []
        for s in self.shards:
            grad = s.vec["best_pull"] - beta * s.vec["best_push"] + tau * (s.vec["best_log_w"] + log_n + 1.0)
            z = s.vec["best_log_w"] - eta * grad
            s.vec["z"] = z
            top = z.max() if len(z) else torch.tensor(-math.inf, dtype=z.dtype)
            pairs.append((top.reshape(1), torch.exp(z - top).sum().reshape(1)))
        top, total = _pair_sum(pairs)
        return np.array([top[0], total[0]])

    def apply_step(self, lse: float, floor: float) -> None:
        for s in self.shards:
            s.vec["log_w"] = (s.vec["z"] - lse).clamp_min(floor)

    def results(self, n: int) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(shard index, weights, pull potential, push potential) per shard, float64 [good rows]."""
        out = []
        for s in self.shards:
            weights = torch.exp(s.vec["best_log_w"]) * n
            out.append((s.index, *(t.double().cpu().numpy() for t in (weights, s.vec["best_pull"],
                                                                        s.vec["best_push"]))))
        return out

    def shard_ids(self, index: int) -> tuple[list[str], np.ndarray]:
        """The ids of every row of shard `index` (read again: ids are not kept) and its good-row mask."""
        shard = next(s for s in self.shards if s.index == index)
        return read_ids(shard.source), shard.good

    # -- log-domain Sinkhorn (sinkhorn._log_loop) -----------------------------------------------------------
    def row_potential(self, problem: str, h: np.ndarray, want_col: bool = True):
        """f = −eps · row_lse(h) per row; returns (col pair of log a + f/eps or None, Σ f·a)."""
        h_t, eps, pairs, fa = self._tensor(h), None, [], 0.0
        for s in self.shards:
            kernel = s.kernels[problem]
            eps = kernel.eps
            f = -eps * kernel.row_lse(h_t)
            s.vec[f"f_{problem}"] = f
            fa += float((f * s.vec["w"]).sum())
            if want_col:
                pairs.append(col_pair(kernel, s.vec["log_a"] + f / eps))
        return (_pair_sum(pairs) if want_col else None), fa

    # -- absorption-stabilised Sinkhorn (sinkhorn._scaling_loop) --------------------------------------------
    def _col_scaled(self, problem: str) -> np.ndarray:
        total = None
        for s in self.shards:
            part = s.scaling[problem].col(s.vec["w"] * s.vec[f"u_{problem}"])
            total = part if total is None else total + part
        return total.cpu().numpy()

    def _absorb(self, problem: str, f0_name: str, g0: np.ndarray) -> np.ndarray:
        g0_t = self._tensor(g0)
        for s in self.shards:
            s.vec[f"f0_{problem}"] = s.vec[f0_name]
            s.scaling[problem] = s.kernels[problem].absorb(s.vec[f0_name], g0_t)
            s.vec[f"u_{problem}"] = torch.ones_like(s.vec["w"])
        return self._col_scaled(problem)

    def absorb(self, problem: str, h: np.ndarray, g0: np.ndarray) -> np.ndarray:
        """f0 = −eps · row_lse(h), K̃ absorbed at (f0, g0), u = 1; returns Σ_i K̃_ij a_i u_i [m]."""
        self.row_potential(problem, h, want_col=False)
        return self._absorb(problem, f"f_{problem}", g0)

    def col_scaled(self, problem: str) -> np.ndarray:
        """Σ_i K̃_ij a_i u_i [m] with the current weights a."""
        return self._col_scaled(problem)

    def row_scaled(self, problem: str, bv: np.ndarray) -> tuple[bool, float, np.ndarray]:
        """u = 1 / K̃ (b v); returns (u finite everywhere, max |log u|, the next Σ_i K̃_ij a_i u_i)."""
        bv_t, finite, largest = self._tensor(bv), True, 0.0
        for s in self.shards:
            u = 1.0 / s.scaling[problem].row(bv_t)
            s.vec[f"u_{problem}"] = u
            finite = finite and bool(torch.isfinite(u).all())
            if len(u):
                largest = max(largest, float(torch.log(u).abs().max()))
        return finite, largest, self._col_scaled(problem)

    def reabsorb(self, problem: str, g0: np.ndarray) -> np.ndarray:
        """f0 ← f0 + eps log u, K̃ rebuilt at (f0, g0), u = 1; returns the new Σ_i K̃_ij a_i u_i."""
        for s in self.shards:
            s.vec[f"f_{problem}"] = s.vec[f"f0_{problem}"] + s.kernels[problem].eps * torch.log(s.vec[f"u_{problem}"])
        return self._absorb(problem, f"f_{problem}", g0)

    def absorb_potential(self, problem: str, g0: np.ndarray) -> np.ndarray:
        """K̃ rebuilt at (f, g0) after an exact log-domain step left f; u = 1."""
        return self._absorb(problem, f"f_{problem}", g0)

    def finish_scaled(self, problem: str) -> float:
        """f = f0 + eps log u (the solve's source potential); returns Σ f·a."""
        fa = 0.0
        for s in self.shards:
            f = s.vec[f"f0_{problem}"] + s.kernels[problem].eps * torch.log(s.vec[f"u_{problem}"])
            s.vec[f"f_{problem}"] = f
            fa += float((f * s.vec["w"]).sum())
        return fa

    # -- score baselines (transport/_solve._baseline, baselines.scores_to_weights) -------------------------
    def baseline_scores(self, method: str, safe: np.ndarray, harmful: np.ndarray, seed: int,
                        temperature: float) -> float:
        """Risk scores of the heuristic or classifier baseline for the group's rows (one index or one fit per
        worker); keeps z = −risk / T and the two output columns; returns max z."""
        parts = [s.read() for s in self.shards]
        x = np.concatenate(parts)
        if method == "heuristic":
            near_s, near_h = heuristic_scores(x, safe, harmful)
            risk, first, second = near_h - near_s, 1.0 - near_s, 1.0 - near_h
        else:
            risk = classifier_scores(x, safe, harmful, seed=seed)
            first, second = risk, 1.0 - risk
        top, start = -math.inf, 0
        for s, part in zip(self.shards, parts):
            rows = slice(start, start + len(part))
            start = rows.stop
            s.vec["z"] = -np.asarray(risk[rows], dtype=np.float64) / temperature
            s.vec["col_pull"], s.vec["col_push"] = first[rows], second[rows]
            if len(s.vec["z"]):
                top = max(top, float(s.vec["z"].max()))
        return top

    def risk_sum(self, top: float) -> float:
        return float(sum(np.exp(s.vec["z"] - top).sum() for s in self.shards))

    def risk_results(self, top: float, total: float, n: int) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """n · softmax(z) per shard with the global max and sum, and the two output columns."""
        return [(s.index, np.exp(s.vec["z"] - top) * (n / total), s.vec["col_pull"], s.vec["col_push"])
                for s in self.shards]


def _edge_counts(kernel) -> np.ndarray | None:
    """Per-anchor edge counts of a sparse kernel [m] (isolated anchors: 0); None for a stream kernel."""
    if not hasattr(kernel, "isolated"):
        return None
    edges = torch.isfinite(kernel.cost).reshape(-1).to(torch.int64)
    counts = torch.zeros(kernel.m, dtype=torch.int64, device=kernel.cost.device)
    return counts.index_add_(0, kernel.flat, edges).cpu().numpy()
