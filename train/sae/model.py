"""The sparse autoencoder: TopK, BatchTopK or ReLU+L1 codes over unit-norm decoder rows.

Shapes: x [N, d]; W_enc [m, d]; b_enc [m]; W_dec [m, d] (row j = atom j, kept unit-norm); b_dec [d].
  pre  = relu((x - b_dec) W_encᵀ + b_enc)                                 [N, m]
  c    = topk(pre, k) per row | top (k·N) over the batch | pre (relu-l1)   sparse [N, m]
  x̂    = c W_dec + b_dec                                                   [N, d]
TopK codes are kept as (rows, cols, values) triples; the encoder backward touches only the selected rows of
W_enc (index_add) and the decoder is an embedding_bag, so a step costs one dense [N, m] matmul plus O(N·k·d).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from curate.errors import ConfigError, InputError
from curate.io import atomic_write_bytes, atomic_write_text, read_json, read_safetensors

__all__ = ["SAEShape", "SparseCodes", "SparseAutoencoder", "load_sae", "save_sae"]

Arch = Literal["topk", "batchtopk", "relu-l1"]

# Encoder rows start as the decoder rows times this (the row norm of nn.Linear's default init, as in sparsify).
# Unit rows overshoot at the start: on SmolLM2 layer-15 activations (2304 latents, k 32, 150 steps of 512
# tokens) held-out FVU was 0.249 with unit rows and 0.223 with this scale.
ENCODER_INIT_SCALE = 3 ** -0.5


@dataclass(frozen=True)
class SAEShape:
    """What `sae.json` records: enough to rebuild the module and to know where it was trained."""

    dim: int
    width: int
    arch: Arch = "topk"
    k: int = 32
    layer: int | None = None
    model: str | None = None
    num_concepts: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ("topk", "batchtopk", "relu-l1"):
            raise ConfigError(f"--arch {self.arch}: use topk, batchtopk or relu-l1")
        if self.dim < 1 or self.width < 1:
            raise ConfigError(f"SAE of dim {self.dim} and width {self.width}: both must be >= 1")
        if self.arch != "relu-l1" and not 1 <= self.k <= self.width:
            raise ConfigError(f"--k {self.k} with width {self.width} (= --expansion x dim): "
                              f"k must be in 1..{self.width}; lower --k or raise --expansion")
        if self.num_concepts > self.width:
            raise ConfigError(f"{self.num_concepts} dictionary concepts do not fit in {self.width} latents; "
                              "raise --expansion so that expansion x dim >= the number of concepts, or pass "
                              "--init-fill 1.0 to place as many as fit")


@dataclass
class SparseCodes:
    """Non-zero codes as triples: sample `rows` [P], latent `cols` [P], `values` [P] (P = N·k for TopK)."""

    rows: torch.Tensor
    cols: torch.Tensor
    values: torch.Tensor
    num_rows: int
    dense_codes: torch.Tensor | None = None
    """ReLU+L1 codes [N, m] kept dense (most are non-zero early in training), decoded by a plain matmul."""
    pre: torch.Tensor | None = None
    """The pre-activations [N, m] without gradient (AuxK picks dead latents from them)."""

    def offsets(self) -> torch.Tensor:
        """Start of each sample's codes in the (row-sorted) triples, as embedding_bag wants."""
        counts = torch.bincount(self.rows, minlength=self.num_rows)
        return torch.cumsum(counts, 0) - counts

    def dense(self, width: int) -> torch.Tensor:
        out = self.values.new_zeros(self.num_rows, width)
        out[self.rows, self.cols] = self.values
        return out


def _sum_by_latent(cols: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor, source: torch.Tensor,
                   width: int) -> torch.Tensor:
    """out[j] = Σ_{p: cols[p] = j} weights[p] · source[rows[p]]  → [width, d].

    The transpose of the sparse decode, computed as an embedding_bag whose bags are the latents: on CPU this
    is an order of magnitude faster than index_add_ of the [P, d] products (which also never materialise here).
    """
    order = torch.sort(cols.to(torch.int32)).indices  # int64 sorts are ~100x slower on this CPU build
    counts = torch.bincount(cols, minlength=width)
    offsets = torch.cumsum(counts, 0) - counts
    return F.embedding_bag(rows[order], source, offsets, mode="sum", per_sample_weights=weights[order])


class _GatherEncoder(torch.autograd.Function):
    """values[p] = pre[rows[p], cols[p]], whose gradient reaches only the selected rows of W_enc and b_enc."""

    @staticmethod
    def forward(ctx, x, weight, bias, pre, rows, cols):
        ctx.save_for_backward(x, rows, cols)
        ctx.width = weight.shape[0]
        return pre[rows, cols]

    @staticmethod
    def backward(ctx, grad_values):
        x, rows, cols = ctx.saved_tensors
        grad_values = grad_values.contiguous()
        grad_weight = _sum_by_latent(cols, rows, grad_values, x, ctx.width)
        grad_bias = torch.bincount(cols, weights=grad_values, minlength=ctx.width).to(grad_values.dtype)
        return None, grad_weight, grad_bias, None, None, None


class _SparseDecode(torch.autograd.Function):
    """out[n] = Σ_{p: rows[p] = n} values[p] · W_dec[cols[p]] (rows sorted), with a sparse backward."""

    @staticmethod
    def forward(ctx, values, weight, rows, cols, offsets):
        ctx.save_for_backward(values, weight, rows, cols)
        return F.embedding_bag(cols, weight, offsets, mode="sum", per_sample_weights=values)

    @staticmethod
    def backward(ctx, grad_out):
        values, weight, rows, cols = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_values = grad_weight = None
        if ctx.needs_input_grad[0]:
            # one dense [N, m] product beats gathering P rows of W_dec on CPU caches
            grad_values = (grad_out @ weight.t())[rows, cols]
        if ctx.needs_input_grad[1]:
            grad_weight = _sum_by_latent(cols, rows, values, grad_out, weight.shape[0])
        return grad_values, grad_weight, None, None, None


class SparseAutoencoder(nn.Module):
    """A one-layer SAE whose decoder rows are unit vectors (the trainer keeps them so)."""

    def __init__(self, shape: SAEShape, *, seed: int = 0):
        super().__init__()
        self.shape = shape
        gen = torch.Generator().manual_seed(seed)
        rows = F.normalize(torch.randn(shape.width, shape.dim, generator=gen), dim=1)
        self.W_dec = nn.Parameter(rows.clone())
        self.W_enc = nn.Parameter(rows * ENCODER_INIT_SCALE)  # encoder = scaled decoder transpose at init
        self.b_enc = nn.Parameter(torch.zeros(shape.width))
        self.b_dec = nn.Parameter(torch.zeros(shape.dim))
        # BatchTopK codes a single token at inference by this threshold (running mean of the batch cut-off).
        self.register_buffer("threshold", torch.zeros(()))

    @property
    def width(self) -> int:
        return self.shape.width

    def init_from_atoms(self, atoms: torch.Tensor) -> None:
        """Put K unit concept directions [K, d] into the first K decoder rows (and encoder rows)."""
        if atoms.shape[1] != self.shape.dim:
            raise InputError(f"dictionary atoms are {atoms.shape[1]}-d but the activations are {self.shape.dim}-d; "
                             "build the dictionary from the same model and layer as the activations")
        if atoms.shape[0] > self.width:
            raise ConfigError(f"{atoms.shape[0]} dictionary concepts do not fit in {self.width} latents; "
                              "raise --expansion")
        with torch.no_grad():
            unit = F.normalize(atoms.to(self.W_dec), dim=1)
            self.W_dec[: len(unit)] = unit
            self.W_enc[: len(unit)] = unit * ENCODER_INIT_SCALE

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.addmm(self.b_enc, x - self.b_dec, self.W_enc.t()))

    def _select(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, cols) of the kept codes, sorted by row."""
        n = pre.shape[0]
        if self.shape.arch == "topk":
            cols = pre.topk(self.shape.k, dim=1, sorted=False).indices.reshape(-1)
            return torch.arange(n, device=pre.device).repeat_interleave(self.shape.k), cols
        if self.shape.arch == "batchtopk" and self.training:
            flat = pre.reshape(-1).topk(min(self.shape.k * n, pre.numel()), sorted=False).indices
            flat = flat[pre.reshape(-1)[flat] > 0]
            key = flat.to(torch.int32) if pre.numel() < 2 ** 31 else flat  # int32 sorts are far faster on CPU
            flat = flat[torch.sort(key).indices]
            return flat // self.width, flat % self.width
        cut = self.threshold if self.shape.arch == "batchtopk" else 0.0
        rows, cols = torch.nonzero(pre > cut, as_tuple=True)
        return rows, cols

    def encode(self, x: torch.Tensor) -> SparseCodes:
        """The sparse codes of x [N, d]; gradients flow to W_enc/b_enc when they require grad."""
        if self.shape.arch == "relu-l1":
            dense = self.pre_activations(x)
            rows, cols = torch.nonzero(dense.detach() > 0, as_tuple=True)
            return SparseCodes(rows, cols, dense[rows, cols], x.shape[0], dense, dense.detach())
        x_centred = (x - self.b_dec).detach()
        with torch.no_grad():
            pre = self.pre_activations(x)
        rows, cols = self._select(pre)
        if self.shape.arch == "batchtopk" and self.training and len(cols):
            self._update_threshold(pre[rows, cols].min())
        values = _GatherEncoder.apply(x_centred, self.W_enc, self.b_enc, pre, rows, cols)
        return SparseCodes(rows, cols, values, x.shape[0], pre=pre)

    def auxk_codes(self, x: torch.Tensor, pre: torch.Tensor, dead: torch.Tensor, k_aux: int) -> SparseCodes:
        """The k_aux largest pre-activations among dead latents per row (AuxK), with encoder gradients."""
        masked = pre.masked_fill(~dead, -1.0)
        cols = masked.topk(k_aux, dim=1, sorted=False).indices.reshape(-1)
        rows = torch.arange(pre.shape[0], device=pre.device).repeat_interleave(k_aux)
        live = pre[rows, cols] > 0
        rows, cols = rows[live], cols[live]
        values = _GatherEncoder.apply((x - self.b_dec).detach(), self.W_enc, self.b_enc, pre, rows, cols)
        return SparseCodes(rows, cols, values, pre.shape[0])

    @torch.no_grad()
    def _update_threshold(self, cut: torch.Tensor, momentum: float = 0.99) -> None:
        if float(self.threshold) == 0.0:
            self.threshold.copy_(cut)
        else:
            self.threshold.mul_(momentum).add_(cut, alpha=1 - momentum)

    def decode(self, codes: SparseCodes, *, bias: bool = True) -> torch.Tensor:
        if codes.dense_codes is not None:
            out = codes.dense_codes @ self.W_dec
            return out + self.b_dec if bias else out
        out = _SparseDecode.apply(codes.values, self.W_dec, codes.rows, codes.cols, codes.offsets())
        return out + self.b_dec if bias else out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, SparseCodes]:
        codes = self.encode(x)
        return self.decode(codes), codes

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Project each decoder row's gradient onto the row's tangent space, so Adam moves along the sphere."""
        if self.W_dec.grad is not None:
            along = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
            self.W_dec.grad.sub_(along * self.W_dec)


def save_sae(sae: SparseAutoencoder, folder: str | Path, **extra) -> None:
    """sae.safetensors (W_enc, b_enc, W_dec, b_dec, threshold) + sae.json (the shape and `extra`)."""
    from safetensors.torch import save

    folder = Path(folder)
    tensors = {name: t.detach().cpu().contiguous() for name, t in sae.state_dict().items()}
    atomic_write_bytes(folder / "sae.safetensors", save(tensors))
    atomic_write_text(folder / "sae.json", json.dumps({**asdict(sae.shape), **extra}, indent=2) + "\n")


def load_sae(folder: str | Path, device: str | torch.device = "cpu") -> SparseAutoencoder:
    """Rebuild an SAE saved by `save_sae`; unknown keys in sae.json are ignored."""
    folder = Path(folder)
    for name in ("sae.safetensors", "sae.json"):
        if not (folder / name).is_file():
            raise InputError(f"{folder / name} not found; is {folder} the --out of `curate train sae`?")
    meta = read_json(folder / "sae.json", what="the sae.json of `curate train sae --out`")
    known = SAEShape.__dataclass_fields__
    sae = SparseAutoencoder(SAEShape(**{k: v for k, v in meta.items() if k in known}))
    state = read_safetensors(folder / "sae.safetensors", what="the sae.safetensors of `curate train sae --out`")
    try:
        sae.load_state_dict(state)
    except RuntimeError as err:  # tensors of another shape or names: the two files do not belong together
        raise InputError(f"{folder / 'sae.safetensors'} does not match {folder / 'sae.json'} "
                         f"({str(err).splitlines()[0]}); give a folder written by `curate train sae`") from err
    return sae.to(device).eval()
