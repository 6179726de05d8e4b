"""Log-domain Sinkhorn with warm starts, returning potentials instead of a plan.

Entropic OT between source weights a [n] and anchor masses b [m] (both summing to 1) with cost C [n, m]:

    OT_eps(a, b) = min_P <P, C> + eps·KL(P ‖ a⊗b) + rho·KL(Pᵀ1 ‖ b)      s.t.  P 1 = a

(rho = None: balanced, Pᵀ1 = b exactly; finite rho: semi-relaxed anchor marginal). At the optimum
P_ij = a_i b_j exp((f_i + g_j − C_ij)/eps); the potentials f [n], g [m] are returned, never P.
Iterations (lam = rho/(rho+eps), 1 when balanced):
    g_j = −eps·lam · log Σ_i a_i exp((f_i − C_ij)/eps)       f_i = −eps · log Σ_j b_j exp((g_j − C_ij)/eps)
Value (dual): <f, a> + <g, b> (balanced) or <f, a> + rho·Σ_j b_j (1 − exp(−g_j/rho)) (semi-relaxed).
∂OT_eps/∂a_i = f_i up to an additive constant (envelope theorem), which is what pushpull.py uses.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from curate.errors import ConfigError
from transport._kernels import DenseKernel, LogKernel
from transport.cost import as_tensor

__all__ = ["SinkhornResult", "SinkhornWarning", "sinkhorn", "sinkhorn_kernel", "plan_from_potentials"]


class SinkhornWarning(UserWarning):
    """Sinkhorn stopped at max_iter before the marginal error reached tol."""


@dataclass
class SinkhornResult:
    """Plan-free result: potentials f [n], g [m], value, L1 marginal error on the anchor side, iterations used."""

    f: torch.Tensor | np.ndarray
    g: torch.Tensor | np.ndarray
    value: float
    marginal_error: float
    iterations: int
    converged: bool


def _check(eps: float, rho: float | None) -> None:
    if not eps > 0:
        raise ConfigError(f"eps must be > 0 (got {eps}); with cost 1 − cos ∈ [0, 2] try --eps 0.05")
    if rho is not None and not rho > 0:
        raise ConfigError(f"rho must be > 0 or None for balanced OT (got {rho})")


def sinkhorn_kernel(
    kernel: LogKernel,
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    rho: float | None = None,
    g0: torch.Tensor | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
    check_every: int = 1,
    warn: bool = True,
) -> SinkhornResult:
    """Sinkhorn on any LogKernel (dense, sparse, streamed, Dask); a [n], b [m] tensors; g0 warm-starts g.

    Returns torch tensors in a's dtype/device. Stops when the L1 anchor-marginal error ≤ tol.
    """
    eps = kernel.eps
    _check(eps, rho)
    lam = 1.0 if rho is None else rho / (rho + eps)
    log_a, log_b = torch.log(a), torch.log(b)
    g = torch.zeros_like(b) if g0 is None else g0.to(b).clone()
    f = -eps * kernel.row_lse(log_b + g / eps)
    error, it, converged = math.inf, 0, False
    for it in range(1, max_iter + 1):
        log_s = kernel.col_lse(log_a + f / eps)
        if it % check_every == 0 or it == max_iter:
            # anchor marginal of the current plan vs its optimality target b·exp(−g/rho)
            q = torch.exp(log_b + g / eps + log_s)
            target = b if rho is None else b * torch.exp(-g / rho)
            target = torch.where(torch.isfinite(log_s), target, torch.zeros_like(target))  # unreached: g = +inf
            error = float(torch.nan_to_num(q - target).abs().sum())
            if error <= tol:
                converged = True
                break
        g = torch.where(torch.isfinite(log_s), -eps * lam * log_s, torch.zeros_like(log_s))
        f = -eps * kernel.row_lse(log_b + g / eps)
    if warn and not converged:
        warnings.warn(
            f"Sinkhorn did not converge in {max_iter} iterations: anchor marginal error {error:.3g} > tol {tol:g}; "
            f"raise max_iter or use a larger eps (e.g. --eps {2 * eps:g})",
            SinkhornWarning,
            stacklevel=2,
        )
    isolated = ~torch.isfinite(log_s) if max_iter > 0 else torch.zeros_like(b, dtype=torch.bool)
    return SinkhornResult(f, g, _value(f, g, a, b, rho, isolated), error, it, converged)


def _value(f, g, a, b, rho, isolated) -> float:
    if rho is None:
        return float((f * a).sum() + (g * b).sum())
    relax = rho * b * (1.0 - torch.exp(-g / rho))
    relax = torch.where(isolated, rho * b, relax)  # an anchor with no edges gets no mass: cost rho·b_j
    return float((f * a).sum() + relax.sum())


def sinkhorn(
    a,
    b,
    cost,
    eps: float,
    *,
    rho: float | None = None,
    g0=None,
    max_iter: int = 1000,
    tol: float = 1e-6,
    warn: bool = True,
) -> SinkhornResult:
    """Dense log-domain Sinkhorn. a [n], b [m], cost [n, m] as numpy or torch (float32/float64, CPU/CUDA).

    Potentials come back in the caller's array type, dtype and device. See the module docstring for the maths.
    """
    _check(eps, rho)
    is_numpy = isinstance(cost, np.ndarray)
    c = as_tensor(cost)
    a_t, b_t = as_tensor(a, c.dtype, c.device), as_tensor(b, c.dtype, c.device)
    g_t = None if g0 is None else as_tensor(g0, c.dtype, c.device)
    res = sinkhorn_kernel(DenseKernel(c, eps), a_t, b_t, rho=rho, g0=g_t, max_iter=max_iter, tol=tol, warn=False)
    if warn and not res.converged:
        warnings.warn(
            f"Sinkhorn did not converge in {max_iter} iterations: anchor marginal error {res.marginal_error:.3g} > "
            f"tol {tol:g}; raise max_iter or use a larger eps (e.g. --eps {2 * eps:g})",
            SinkhornWarning,
            stacklevel=2,
        )
    if is_numpy:
        res.f, res.g = res.f.cpu().numpy(), res.g.cpu().numpy()
    return res


def plan_from_potentials(a, b, cost, f, g, eps: float):
    """The plan P_ij = a_i b_j exp((f_i + g_j − C_ij)/eps) [n, m] for small problems (tests, inspection)."""
    return a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - cost) / eps) if isinstance(cost, np.ndarray) \
        else a[:, None] * b[None, :] * torch.exp((f[:, None] + g[None, :] - cost) / eps)
