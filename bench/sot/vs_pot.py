"""Our `sot` solver vs the same push-pull objective solved with POT's `ot.sinkhorn` from scratch at every outer step.

Same data (n corpus rows, m safe + m harmful anchors, d = 384), same eps / beta / tau / eta and the same number of
outer mirror-descent steps. POT is used as a POT user would: numpy float64 cost matrices built once, then
`ot.sinkhorn(w, b, M, eps, method="sinkhorn_log", log=True)` per problem per step, potentials from log_u.
Both final weight vectors are scored by one float64 evaluator (POT at a tight tolerance).

    .venv/bin/python -m bench.sot.vs_pot                      # n=20000, 2000 + 2000 anchors, synthetic clusters
    .venv/bin/python -m bench.sot.vs_pot --data minilm        # real MiniLM embeddings of the registry sets
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench.common import machine_info, make_parser


def synthetic(n: int, m: int, seed: int = 0):
    from bench.sot.scale import clustered

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((200, 384), dtype=np.float32)
    benign, harm = np.arange(190), np.arange(190, 200)
    x = np.concatenate([clustered(rng, centers, benign, n - n // 20), clustered(rng, centers, harm, n // 20)])
    return x, clustered(rng, centers, benign, m), clustered(rng, centers, harm, m)


def minilm(n: int, m: int, seed: int = 0):
    """MiniLM 'pair' features of the registry corpus and anchors (first n / m rows after a seeded shuffle)."""
    from bench.sot.quality import embed_sets

    x, safe, harm, _ = embed_sets("contaminated-sft", "pair")
    rng = np.random.default_rng(seed)
    pick = lambda a, k: a[rng.permutation(len(a))[: min(k, len(a))]]  # noqa: E731
    return pick(x, n), pick(safe, m), pick(harm, m)


def pot_push_pull(x, safe, harm, eps, beta, tau, eta, outer, inner_iter, inner_tol):
    """Mirror descent on J with POT solving both OT problems from scratch each step (float64 numpy)."""
    import ot

    n = len(x)
    costs = [1.0 - x.astype(np.float64) @ y.astype(np.float64).T for y in (safe, harm)]
    masses = [np.full(len(y), 1.0 / len(y)) for y in (safe, harm)]
    log_w = np.full(n, -np.log(n))
    for _ in range(outer - 1):
        w = np.exp(log_w)
        f = []
        for cost, b in zip(costs, masses, strict=True):
            _, log = ot.sinkhorn(w, b, cost, eps, method="sinkhorn_log", numItermax=inner_iter, stopThr=inner_tol,
                                 log=True, warn=False)
            pot_f = eps * (log["log_u"] - np.log(w))
            f.append(pot_f - pot_f.mean())
        grad = f[0] - beta * f[1] + tau * (log_w + np.log(n) + 1.0)
        log_w = log_w - eta * grad
        log_w = np.maximum(log_w - np.logaddexp.reduce(log_w), -80.0)
    return np.exp(log_w) * n


def objective(x, safe, harm, weights, eps, beta, tau) -> float:
    """J(w) with POT at a tight tolerance (float64), the common judge of both solvers."""
    import ot

    w = weights / weights.sum()
    values = []
    for y in (safe, harm):
        cost = 1.0 - x.astype(np.float64) @ y.astype(np.float64).T
        b = np.full(len(y), 1.0 / len(y))
        _, log = ot.sinkhorn(w, b, cost, eps, method="sinkhorn_log", numItermax=5000, stopThr=1e-9, log=True)
        values.append(float(eps * ((log["log_u"] - np.log(w)) @ w + (log["log_v"] - np.log(b)) @ b)))
    return values[0] - beta * values[1] + tau * float(w @ np.log(len(w) * w))


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--m", type=int, default=2_000, help="safe and harmful anchors each")
    parser.add_argument("--data", choices=["synthetic", "minilm"], default="synthetic")
    parser.add_argument("--outer", type=int, default=30, help="mirror-descent steps, the same for both")
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--inner-iter", type=int, default=1000)
    parser.add_argument("--inner-tol", type=float, default=1e-4)
    parser.add_argument("--step-rule", choices=["fixed", "adaptive"], default="fixed",
                        help="ours: fixed = the same eta steps POT takes (like for like); adaptive = our default")
    args = parser.parse_args()
    import torch

    from transport._solve import solve_weights
    from transport.config import SOTConfig

    x, safe, harm = (synthetic if args.data == "synthetic" else minilm)(args.n, args.m)
    config = SOTConfig(out=Path("unused.parquet"), solver="dense", eps=args.eps, max_outer=args.outer, tol=0.0,
                       inner_max_iter=args.inner_iter, inner_tol=args.inner_tol, step_rule=args.step_rule,
                       progress=False)
    start = time.perf_counter()
    ours, _ = solve_weights(x, safe, harm, config, torch.device("cpu"))
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = pot_push_pull(x, safe, harm, config.eps, config.beta, config.tau, config.eta, args.outer,
                           args.inner_iter, args.inner_tol)
    t_pot = time.perf_counter() - start
    j_ours = objective(x, safe, harm, ours.weights, config.eps, config.beta, config.tau)
    j_pot = objective(x, safe, harm, theirs, config.eps, config.beta, config.tau)
    print(json.dumps({"n": len(x), "m": [len(safe), len(harm)], "data": args.data, "outer": args.outer,
                      "eps": config.eps, "beta": config.beta, "tau": config.tau, "eta": config.eta,
                      "seconds_sot": round(t_ours, 2), "seconds_pot": round(t_pot, 2),
                      "speedup": round(t_pot / t_ours, 2), "step_rule": args.step_rule,
                      "torch_threads": torch.get_num_threads(), "objective_sot": j_ours, "objective_pot": j_pot,
                      "objective_rel_diff": abs(j_ours - j_pot) / abs(j_pot),
                      "inner_iterations_sot": int(sum(a + b for a, b in ours.inner_iterations)), **machine_info()}))


if __name__ == "__main__":
    main()
