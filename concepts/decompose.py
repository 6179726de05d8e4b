"""Sparse coding of activations over a concept dictionary: batched OMP (Cholesky updates) and FISTA lasso.

Atoms are the rows of D [K, d] (unit norm); an activation x [d] is coded as x ≈ Dᵀa with a sparse a [K]:
- OMP: greedy, exactly k atoms (fewer when the residual vanishes); after each pick the coefficients on the
  chosen set S solve the least-squares problem min ‖x − D_Sᵀ a_S‖², via a Cholesky factor of D_S D_Sᵀ that
  grows by one row per step (no refactorisation). Correlations with the residual come from the Gram matrix
  G = D Dᵀ (D r = D x − G_Sᵀ a_S), as in scikit-learn's orthogonal_mp_gram, but for the whole batch at once.
- lasso: min_a ½‖x − Dᵀa‖² + α‖a‖₁ by FISTA with step 1/λ_max(D Dᵀ).
Both run on a whole batch at once, in torch, on the device of the inputs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from curate.errors import ConfigError, InputError

__all__ = ["Decomposition", "decompose", "omp", "lasso", "ConvergenceWarning"]


class ConvergenceWarning(UserWarning):
    """FISTA stopped at max_iter before the relative change of the codes fell below tol."""


@dataclass
class Decomposition:
    """codes [B, K], residual [B, d] = x − codes·D, support [B, k] (OMP: atom per step, −1 = unused; lasso:
    None), iterations run; arrays in the caller's type (numpy or torch) and device."""

    codes: np.ndarray | torch.Tensor
    residual: np.ndarray | torch.Tensor
    support: np.ndarray | torch.Tensor | None
    iterations: int
    converged: bool = True


def _as_tensors(activations, atoms) -> tuple[torch.Tensor, torch.Tensor, bool]:
    numpy_in = isinstance(activations, np.ndarray)
    x = torch.as_tensor(activations)
    D = torch.as_tensor(atoms, device=x.device)
    if x.ndim != 2 or D.ndim != 2:
        raise InputError(f"decompose: activations must be [B, d] and atoms [K, d]; got shapes {tuple(x.shape)} "
                         f"and {tuple(D.shape)}")
    if x.shape[1] != D.shape[1]:
        raise InputError(f"decompose: activations are {x.shape[1]}-d but the dictionary atoms are {D.shape[1]}-d; "
                         "use the dictionary built for this model and layer")
    if D.shape[0] == 0:
        raise InputError("decompose: the dictionary has no atoms")
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    return x.to(dtype), D.to(dtype), numpy_in


def omp(x: torch.Tensor, D: torch.Tensor, k: int, tol: float = 1e-7, gram: torch.Tensor | None = None
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched OMP. x [B, d], D [K, d] (gram = D Dᵀ [K, K] if precomputed) → (codes [B, K], residual [B, d],
    support [B, k]). Rows are processed in chunks holding ≤ 256 MiB of Gram rows."""
    gram = D @ D.T if gram is None else gram.to(x.device, x.dtype)
    chunk = max(1, int(2 ** 26 // max(1, k * D.shape[0])))
    parts = [_omp_chunk(x[i:i + chunk], D, k, tol, gram) for i in range(0, len(x), chunk)]
    if len(parts) == 1:
        return parts[0]
    return tuple(torch.cat(p) for p in zip(*parts))


def _omp_chunk(x, D, k, tol, gram):
    """D r for the residual r = x − D_Sᵀ a_S is D x − G_Sᵀ a_S, with the chosen Gram rows G_S kept in a buffer:
    B·t·K work per step instead of B·K·d."""
    B, K = x.shape[0], D.shape[0]
    rows_g = torch.empty(B, k, K, dtype=x.dtype, device=x.device)  # G rows of the chosen atoms
    rows = torch.arange(B, device=x.device)
    corr0 = x @ D.T
    support = torch.full((B, k), -1, dtype=torch.long, device=x.device)
    L = torch.zeros(B, k, k, dtype=x.dtype, device=x.device)
    coef = torch.zeros(B, 0, dtype=x.dtype, device=x.device)
    scale = x.norm(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
    for t in range(k):
        if t:
            corr = torch.baddbmm(corr0.unsqueeze(1), coef.unsqueeze(1), rows_g[:, :t], alpha=-1).squeeze(1)
            best, j = corr.abs_().max(dim=1)
        else:
            best, j = corr0.abs().max(dim=1)
        # chosen atoms are orthogonal to the residual; picking one again means the residual is numerically zero
        ok = (best > tol * scale) & ~(support[:, :t] == j[:, None]).any(1)
        if t:
            g = gram[support[:, :t].clamp_min(0), j[:, None]] * (support[:, :t] >= 0)
            w = torch.linalg.solve_triangular(L[:, :t, :t], g.unsqueeze(-1), upper=False).squeeze(-1)
            diag = (1.0 - (w * w).sum(1)).clamp_min(0).sqrt()
            ok &= diag > 1e-6
            L[:, t, :t] = torch.where(ok[:, None], w, torch.zeros_like(w))
            L[:, t, t] = torch.where(ok, diag, torch.ones_like(diag))
        else:
            L[:, 0, 0] = 1.0
        support[:, t] = torch.where(ok, j, torch.full_like(j, -1))
        rows_g[:, t] = gram[j]
        if not ok.all():
            rows_g[~ok, t] = 0.0
        rhs = torch.where(support[:, :t + 1] >= 0, corr0.gather(1, support[:, :t + 1].clamp_min(0)), 0.0)
        y = torch.linalg.solve_triangular(L[:, :t + 1, :t + 1], rhs.unsqueeze(-1), upper=False)
        coef = torch.linalg.solve_triangular(L[:, :t + 1, :t + 1].transpose(1, 2), y, upper=True).squeeze(-1)
        if not ok.any():
            break
    codes = torch.zeros(B, K, dtype=x.dtype, device=x.device)
    used = support[:, :coef.shape[1]] >= 0
    codes[rows[:, None].expand_as(used)[used], support[:, :coef.shape[1]][used]] = coef[used]
    return codes, x - codes @ D, support


def _lipschitz(D: torch.Tensor) -> float:
    """λ_max(D Dᵀ) = λ_max(Dᵀ D), from the smaller of the two Gram matrices."""
    gram = D.T @ D if D.shape[1] <= D.shape[0] else D @ D.T
    return float(torch.linalg.eigvalsh(gram.double())[-1])


def lasso(x: torch.Tensor, D: torch.Tensor, alpha: float, max_iter: int = 500, tol: float = 1e-6):
    """FISTA for min ½‖x − Dᵀa‖² + α‖a‖₁ per row. → (codes [B, K], residual [B, d], iterations, converged)."""
    step = 1.0 / _lipschitz(D)
    a = torch.zeros(x.shape[0], D.shape[0], dtype=x.dtype, device=x.device)
    z, momentum, converged = a.clone(), 1.0, False
    xD = x @ D.T
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is returned: the iterations run
        grad = (z @ D) @ D.T - xD
        nxt = torch.nn.functional.softshrink(z - step * grad, alpha * step) if alpha > 0 else z - step * grad
        new_momentum = (1 + (1 + 4 * momentum ** 2) ** 0.5) / 2
        z = nxt + ((momentum - 1) / new_momentum) * (nxt - a)
        change = (nxt - a).norm() / a.norm().clamp_min(1e-12)
        a, momentum = nxt, new_momentum
        if change < tol:
            converged = True
            break
    return a, x - a @ D, it, converged


def decompose(activations, dictionary_atoms, k: int | None = None, alpha: float | None = None,
              method: Literal["omp", "lasso"] = "omp", max_iter: int = 500, tol: float | None = None,
              gram=None) -> Decomposition:
    """Sparse codes of activations [B, d] over dictionary_atoms [K, d] (unit rows), numpy or torch in → same out.

    method="omp": k atoms per row (default min(K, 16)); tol = relative correlation below which a row stops
    early (default 1e-7). method="lasso": penalty alpha (default 0.1), FISTA for max_iter iterations or until
    the relative change of the codes is below tol (default 1e-6); warns (ConvergenceWarning) when it stops early.
    `gram` = D Dᵀ [K, K] may be passed when the same dictionary codes many batches (steering).
    """
    x, D, numpy_in = _as_tensors(activations, dictionary_atoms)
    K = D.shape[0]
    if method == "omp":
        k = min(K, 16) if k is None else k
        if not 1 <= k <= K:
            raise ConfigError(f"decompose: k={k} but the dictionary has {K} atoms; use 1 <= k <= {K}")
        codes, residual, support = omp(x, D, k, 1e-7 if tol is None else tol,
                                       None if gram is None else torch.as_tensor(gram))
        result = Decomposition(codes, residual, support, k)
    elif method == "lasso":
        alpha = 0.1 if alpha is None else alpha
        if alpha < 0:
            raise ConfigError(f"decompose: alpha={alpha} must be >= 0")
        codes, residual, iterations, converged = lasso(x, D, alpha, max_iter, 1e-6 if tol is None else tol)
        if not converged:
            warnings.warn(f"lasso: FISTA stopped at max_iter={max_iter} before reaching tol; raise max_iter",
                          ConvergenceWarning, stacklevel=2)
        result = Decomposition(codes, residual, None, iterations, converged)
    else:
        raise ConfigError(f"decompose: method={method!r} is not 'omp' or 'lasso'")
    if numpy_in:
        result.codes, result.residual = result.codes.cpu().numpy(), result.residual.cpu().numpy()
        result.support = None if result.support is None else result.support.cpu().numpy()
    return result
