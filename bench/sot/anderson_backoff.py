"""Our solver with and without the Anderson back-off (issue 15: where the per-iteration gap to POT torch goes).

The safeguarded Anderson mixing of the inner Sinkhorn rejects an extrapolated point when its marginal error is not
below the point it came from, and then pays one more kernel product pair for the plain step. The back-off
(transport.sinkhorn._Anderson.MAX_PAUSE) follows a rejection with plain steps, doubling while rejections follow
each other. This script runs, on the same problem and in one process, the fixed-step push-pull of bench.sot.vs_pot
(--outer steps at the default eta, the same inner tolerance and cap) with:
  plain      anderson = 0
  mix-now    Anderson, MAX_PAUSE = 0 (the rule before the back-off: mix again at once after a rejection)
  back-off   Anderson, MAX_PAUSE = the shipped value
and prints seconds, inner iterations, accepted / rejected / paused mixing steps and the final objective of each,
and the ratio of each to back-off. The objective is push_pull's own (float32 products, float64 sums), not the
certified float64 judge of bench.sot.vs_pot; variants differ in their iterates, so J agrees only to the inner
tolerance.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OMP_NUM_THREADS .venv/bin/python -m bench.sot.anderson_backoff
    .venv/bin/python -m bench.sot.anderson_backoff --n 2000 --m 200 --out /tmp/backoff.json   # a quick check
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from bench.common import RESULTS, machine_info, make_parser, use_all_cores, write_json

VARIANTS = ("plain", "mix-now", "back-off")


def _parser():
    from transport.config import SOTConfig

    defaults = SOTConfig(out="unused.parquet")
    parser = make_parser(__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--m", type=int, default=2_000, help="safe and harmful anchors each")
    parser.add_argument("--outer", type=int, default=30)
    parser.add_argument("--eps", type=float, default=defaults.eps)
    parser.add_argument("--inner-iter", type=int, default=defaults.inner_max_iter)
    parser.add_argument("--inner-tol", type=float, default=defaults.inner_tol)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=RESULTS / "sot_anderson_backoff.json")
    return parser, defaults


def run_variant(name: str, problem, shipped_pause: int) -> dict:
    """One fixed-step run of `problem` as variant `name`; warmed up on a 512-row head first."""
    from bench.sot._pot_peers import run_ours
    from transport.sinkhorn import _Anderson

    problem = replace(problem, anderson=0 if name == "plain" else problem.anderson)
    _Anderson.MAX_PAUSE = 0 if name == "mix-now" else shipped_pause
    try:
        run_ours(problem.head(min(len(problem.x), 512), 64))
        _Anderson.log = []
        run = run_ours(problem)
        counts = {k: sum(c[k] for c in _Anderson.log) for k in ("accepted", "rejected", "paused")}
    finally:
        _Anderson.MAX_PAUSE, _Anderson.log = shipped_pause, None
    row = {"variant": name, "seconds": run.seconds, "inner_iterations": run.inner_iterations,
           "capped_inner_solves": run.capped_solves, "objective": run.final.value,
           "ms_per_inner_iteration": round(1000 * run.split["sinkhorn_iterations"] / max(run.inner_iterations, 1), 2),
           "split_seconds": {k: round(v, 2) for k, v in run.split.items()}, **counts}
    print(f"  {name}: {row['seconds']:.1f} s, {row['inner_iterations']} inner iterations "
          f"({row['ms_per_inner_iteration']} ms each), mixing accepted {counts['accepted']} / rejected "
          f"{counts['rejected']} / paused {counts['paused']}, J {row['objective']:.7f}", flush=True)
    return row


def main(argv=None) -> dict:
    parser, defaults = _parser()
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS):
        parser.error(f"unknown --variants {sorted(set(variants) - set(VARIANTS))}; choose from {', '.join(VARIANTS)}")
    import torch  # noqa: F401  (loaded before the thread limits so its pools are covered)

    from bench.sot._pot_peers import Problem
    from bench.sot.vs_pot import synthetic
    from transport.sinkhorn import _Anderson

    threads = use_all_cores(args.threads)
    x, safe, harm = synthetic(args.n, args.m)
    problem = Problem(x, safe, harm, eps=args.eps, beta=defaults.beta, tau=defaults.tau, eta=defaults.eta,
                      adaptive=False, max_outer=args.outer, tol=0.0, inner_max_iter=args.inner_iter,
                      inner_tol=args.inner_tol, anderson=defaults.anderson)
    print(f"fixed mode: n={len(x)}, anchors {len(safe)} + {len(harm)}, {args.outer} outer steps, anderson "
          f"{defaults.anderson}, shipped MAX_PAUSE {_Anderson.MAX_PAUSE}, load {os.getloadavg()[0]:.2f}", flush=True)
    shipped = _Anderson.MAX_PAUSE
    rows = [run_variant(v, problem, shipped) for v in variants]
    ref = next((r for r in rows if r["variant"] == "back-off"), None)
    for r in rows:
        if ref is not None:
            r["seconds_ratio_to_back_off"] = round(r["seconds"] / ref["seconds"], 3)
            r["objective_rel_gap_to_back_off"] = (r["objective"] - ref["objective"]) / abs(ref["objective"])
    if ref is not None:
        print("ratio to back-off (seconds): " + ", ".join(f"{r['variant']} {r['seconds_ratio_to_back_off']:.2f}×"
                                                          for r in rows), flush=True)
    payload = {"command": "python -m bench.sot.anderson_backoff " + " ".join(sys.argv[1:] if argv is None else argv),
               **machine_info(), "threads": threads, "n": len(x), "anchors": [len(safe), len(harm)],
               "outer": args.outer, "eps": args.eps, "inner_max_iter": args.inner_iter, "inner_tol": args.inner_tol,
               "anderson": defaults.anderson, "max_pause": shipped, "load_end": os.getloadavg(), "rows": rows}
    write_json(args.out, payload)
    print(f"wrote {args.out}", flush=True)
    return payload


if __name__ == "__main__":
    main()
