"""Sparse-coding speed: our batched OMP (concepts.decompose) against scikit-learn at its best (issue 17 item 5).

One row per solver configuration, all on the same signals [n, d], atoms [K, d] (unit rows) and k, float32:
  ours                 decompose(x, atoms, k): the Gram matrix D Dᵀ computed inside, as `curate steer` does once
  ours-gram            decompose(..., gram=G) with G precomputed (the steering controller caches it)
  sparse-encode        sklearn.decomposition.sparse_encode(algorithm="omp", n_jobs=--n-jobs), Gram inside
  orthogonal-mp-gram   sklearn.linear_model.orthogonal_mp_gram(G, D x) with G and D x precomputed
Each scikit-learn row is compared with the ours row that does the same work (Gram inside or given): speed-up,
mean relative residual of both, the largest per-signal gap, and the share of signals with the same support.
scikit-learn copies the Gram matrix for every signal (K² floats), which is what dominates at 15,000 atoms;
--peer-rows times the scikit-learn rows on the first N signals and scales their seconds to n (marked
extrapolated) for a quick estimate; the issue's figure runs them to completion (the default).

    .venv/bin/python -m bench.daco.omp_speed --daco-results bench/results/daco.json   # the issue's size: 10,000 ×
                                                    # 15,000 random unit atoms × 576, k = 8; summary into daco.json
    .venv/bin/python -m bench.daco.omp_speed --summarise bench/results/omp_speed.json \
        --daco-results bench/results/daco.json      # the summary of a finished run, no timing
    .venv/bin/python -m bench.daco.omp_speed --dictionary runs/daco/bench/dict --n 2000 --k 16
    .venv/bin/python -m bench.daco.omp_speed --n 2000 --atoms 3000 --k 16
    .venv/bin/python -m bench.daco.omp_speed --dictionary runs/daco/bench/dict --n 1000 --atoms 15000 --k 16

--dictionary DIR: the atoms of a `curate build-dictionary` folder at --layer (default its middle layer), padded
with random unit atoms up to --atoms or cut to it; signals are the build's activations at that layer
(DIR/work/acts-*, or --activations FOLDER) unless --signals gaussian. Without --dictionary: random unit atoms and
standard-normal signals. k defaults to `curate steer`'s --k. Threads: all cores (--threads) for torch and BLAS;
run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OMP_NUM_THREADS` so numpy uses its native kernel.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench.common import RESULTS, machine_info, make_parser, use_all_cores, write_json

PEERS = ("sparse-encode", "orthogonal-mp-gram")


def omp_speed(activations: np.ndarray, atoms: np.ndarray, k: int, repeats: int = 1) -> dict:
    """Seconds and reconstruction errors of ours and sparse_encode(omp, one job) on activations [n, d] over atoms
    [K, d] at k non-zeros (the speed stage of bench.daco.end_to_end)."""
    x32, d32 = activations.astype(np.float32), atoms.astype(np.float32)
    ours = time_ours(x32, d32, k, repeats=repeats)
    peer = time_sparse_encode(x32, d32, k, n_jobs=None)
    same = compare(x32, ours, peer)
    return {"n": len(x32), "atoms": len(d32), "dim": x32.shape[1], "k": k, "ours_s": round(ours["seconds"], 3),
            "sklearn_s": round(peer["seconds"], 3), "speedup": round(peer["seconds"] / ours["seconds"], 2),
            "ours_rel_error": same["ours_rel_error"], "sklearn_rel_error": same["peer_rel_error"],
            "max_abs_error_gap": same["max_abs_error_gap"], "same_support": same["same_support"]}


def _supports(codes: np.ndarray) -> list[frozenset]:
    rows, cols = np.nonzero(codes)
    splits = np.searchsorted(rows, np.arange(1, len(codes)))
    return [frozenset(c.tolist()) for c in np.split(cols, splits)]


def _rel_errors(x: np.ndarray, residual: np.ndarray) -> np.ndarray:
    return np.linalg.norm(residual, axis=1) / np.maximum(np.linalg.norm(x, axis=1), 1e-30)


def _summary(x: np.ndarray, atoms: np.ndarray, codes: np.ndarray) -> dict:
    """Supports and relative residuals of dense codes [n, K] (the reconstruction through a sparse product)."""
    from scipy.sparse import csr_matrix

    return {"supports": _supports(codes), "rel_errors": _rel_errors(x, x - csr_matrix(codes) @ atoms)}


def time_ours(x: np.ndarray, atoms: np.ndarray, k: int, gram: np.ndarray | None = None, repeats: int = 1) -> dict:
    """decompose() on torch CPU tensors (best of `repeats`); supports and relative residuals kept, codes dropped."""
    import torch

    from concepts.decompose import decompose

    xt, dt = torch.from_numpy(x), torch.from_numpy(atoms)
    gt = None if gram is None else torch.from_numpy(gram)
    decompose(xt[:8], dt[:512], k=min(k, 512))  # warm-up: thread pool, allocator
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = decompose(xt, dt, k=k, gram=gt)
        best = min(best, time.perf_counter() - started)
    return {"seconds": best, "supports": _supports(result.codes.numpy()),
            "rel_errors": _rel_errors(x, result.residual.numpy())}


def time_sparse_encode(x: np.ndarray, atoms: np.ndarray, k: int, n_jobs: int | None) -> dict:
    """sklearn sparse_encode(algorithm="omp") as a user calls it: it builds the Gram matrix and D x itself."""
    from sklearn.decomposition import sparse_encode

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "ended prematurely" for rows whose residual vanishes
        codes = sparse_encode(x, atoms, algorithm="omp", n_nonzero_coefs=k, n_jobs=n_jobs)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, **_summary(x, atoms, codes)}


def time_orthogonal_mp_gram(x: np.ndarray, atoms: np.ndarray, k: int, gram: np.ndarray) -> dict:
    """sklearn orthogonal_mp_gram with the Gram matrix given and D x precomputed (the cov product is timed)."""
    from sklearn.linear_model import orthogonal_mp_gram

    started = time.perf_counter()
    xy = atoms @ x.T  # [K, n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        codes = orthogonal_mp_gram(gram, xy, n_nonzero_coefs=k, copy_Xy=False).T
    seconds = time.perf_counter() - started
    return {"seconds": seconds, **_summary(x, atoms, codes.reshape(len(x), -1))}


def compare(x: np.ndarray, ours: dict, peer: dict) -> dict:
    """Equal error and same support of a peer against ours on the signals the peer coded (the first rows)."""
    rows = len(peer["supports"])
    gap = np.abs(ours["rel_errors"][:rows] - peer["rel_errors"])
    same = np.mean([a == b for a, b in zip(ours["supports"][:rows], peer["supports"])])
    return {"ours_rel_error": float(ours["rel_errors"][:rows].mean()),
            "peer_rel_error": float(peer["rel_errors"].mean()), "max_abs_error_gap": float(gap.max()),
            "same_support": float(same)}


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def load_atoms(args) -> tuple[np.ndarray, dict]:
    """Atoms [K, d] and where they came from: random unit rows, or a dictionary's layer padded/cut to --atoms."""
    rng = np.random.default_rng(args.seed)
    if args.dictionary is None:
        atoms = _unit(rng.standard_normal((args.atoms or 15_000, args.dim), dtype=np.float32))
        return atoms, {"atoms_from": "random unit", "real_atoms": 0}
    from concepts import load_dictionary
    from curate.errors import InputError

    dictionary = load_dictionary(args.dictionary)
    layer = dictionary.layers[len(dictionary.layers) // 2] if args.layer is None else args.layer
    if layer not in dictionary.layers:
        raise InputError(f"--layer {layer}: {args.dictionary} has layers {dictionary.layers}; pick one of them")
    real = dictionary.atoms[layer].numpy()
    want = args.atoms or len(real)
    pad = _unit(rng.standard_normal((max(0, want - len(real)), real.shape[1]), dtype=np.float32))
    atoms = np.ascontiguousarray(np.concatenate([real[:want], pad]), dtype=np.float32)
    return atoms, {"atoms_from": f"{args.dictionary} layer {layer}", "layer": layer, "layers": dictionary.layers,
                   "real_atoms": min(want, len(real))}


def load_signals(args, source: dict, dim: int) -> tuple[np.ndarray, str]:
    """Signals [n, d]: standard normal, or the dictionary build's activations at the atoms' layer."""
    kind = args.signals or ("activations" if args.dictionary is not None or args.activations else "gaussian")
    if kind == "gaussian":
        return np.random.default_rng(args.seed + 1).standard_normal((args.n, dim), dtype=np.float32), "gaussian"
    from curate.errors import InputError
    from embed import read_embeddings

    folder = args.activations or next((Path(args.dictionary or ".") / "work").glob("acts-*"), None)
    if folder is None:
        raise InputError(f"no activations under {args.dictionary}/work/acts-*; pass --activations FOLDER or "
                         "--signals gaussian")
    vectors = read_embeddings(folder).vectors
    if vectors.shape[1] != dim:  # one block per layer of the build, in layer order
        width, layers = vectors.shape[1] // len(source.get("layers", [1])), source.get("layers", [])
        if width != dim or source.get("layer") not in layers:
            raise InputError(f"{folder}: {vectors.shape[1]}-d activations do not match the {dim}-d atoms; pass "
                             "the activations of this dictionary's build (--activations)")
        block = layers.index(source["layer"])
        vectors = vectors[:, block * width:(block + 1) * width]
    if len(vectors) < args.n:
        raise InputError(f"--n {args.n} but {folder} holds {len(vectors)} activations; lower --n")
    return np.ascontiguousarray(vectors[:args.n], dtype=np.float32), f"activations {folder}"


def peer_row(name: str, x: np.ndarray, atoms: np.ndarray, k: int, gram: np.ndarray, args, ours: dict) -> dict:
    """Time one scikit-learn configuration (on the first --peer-rows signals, scaled to n) and check it."""
    xs = x[: args.peer_rows or len(x)]
    if name == "sparse-encode":
        result = time_sparse_encode(xs, atoms, k, n_jobs=args.n_jobs)
    else:
        result = time_orthogonal_mp_gram(xs, atoms, k, gram)
    seconds = result["seconds"] * len(x) / len(xs)
    return {"solver": name, "seconds": round(seconds, 3), "rows_timed": len(xs), "extrapolated": len(xs) < len(x),
            "n_jobs": _jobs(args.n_jobs) if name == "sparse-encode" else 1, "versus": ours["solver"],
            "speedup": round(seconds / ours["seconds"], 2), **compare(x, ours["result"], result)}


def _jobs(n_jobs: int | None) -> int:
    from joblib import effective_n_jobs

    return effective_n_jobs(n_jobs)


def parse_args():
    parser = make_parser(__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="signals")
    parser.add_argument("--atoms", type=int, default=None, help="atoms (default 15,000, or the dictionary's count)")
    parser.add_argument("--dim", type=int, default=576, help="dimension of random atoms (a dictionary sets its own)")
    parser.add_argument("--k", type=int, default=None, help="OMP atoms per signal (default: curate steer's --k)")
    parser.add_argument("--dictionary", type=Path, default=None, help="a `curate build-dictionary` folder")
    parser.add_argument("--layer", type=int, default=None, help="its layer (default the middle one)")
    parser.add_argument("--signals", choices=["gaussian", "activations"], default=None)
    parser.add_argument("--activations", type=Path, default=None, help="embedding folder of activations")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma list of: " + ", ".join(PEERS))
    parser.add_argument("--n-jobs", type=int, default=-1, help="sparse_encode's n_jobs (-1 = every core)")
    parser.add_argument("--peer-rows", type=int, default=None, help="time scikit-learn on this many signals only")
    parser.add_argument("--repeats", type=int, default=1, help="ours: best of this many runs")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "omp_speed.json")
    parser.add_argument("--daco-results", type=Path, default=None,
                        help="also write the summary into this file's 'omp' entry (the issue-size run: "
                             "bench/results/daco.json)")
    parser.add_argument("--summarise", type=Path, default=None,
                        help="only write the daco.json summary of a finished --out file (no timing)")
    args = parser.parse_args()
    unknown = set(args.peers.split(",")) - set(PEERS) - {""}
    if unknown:
        parser.error(f"unknown --peers {sorted(unknown)}; choose from {', '.join(PEERS)}")
    if args.signals == "activations" and args.dictionary is None and args.activations is None:
        parser.error("--signals activations needs --dictionary DIR or --activations FOLDER")
    return args


def default_k() -> int:
    """`curate steer`'s default --k."""
    from dataclasses import fields

    from curate.commands.steer import SteerConfig

    return next(f.default for f in fields(SteerConfig) if f.name == "k")


def summary(payload: dict) -> dict:
    """daco.json's `omp` entry: {omp_speedup, n, atoms, ...} per scikit-learn row of a finished run; the headline
    omp_speedup is against sparse_encode (the call a user makes), only from rows timed to completion."""
    peers = {r["solver"]: r for r in payload["rows"] if "speedup" in r}
    rows = [{"peer": name, "omp_speedup": r["speedup"], "peer_s": r["seconds"], "versus": r["versus"],
             "extrapolated": r["extrapolated"], "same_support": r["same_support"],
             "max_abs_error_gap": r["max_abs_error_gap"]} for name, r in peers.items()]
    complete = [r for r in rows if not r["extrapolated"]]
    head = next((r for r in complete if r["peer"] == "sparse-encode"), complete[0] if complete else None)
    return {"omp_speedup": head["omp_speedup"] if head else None, "versus_peer": head["peer"] if head else None,
            "n": payload["n"], "atoms": payload["atoms"], "dim": payload["dim"], "k": payload["k"],
            "signals": payload["signals"], "load_average": payload.get("load_average"),
            "goal_speedup": payload["goal_speedup"], "rows": rows, "command": payload["command"]}


def write_summary(payload: dict, path: Path | None) -> None:
    if path is not None:
        from bench.daco._results import update_results

        update_results(path, {"omp": summary(payload)})
        print(f"wrote the omp summary into {path}")


def main() -> None:
    args = parse_args()
    if args.summarise is not None:
        from curate.io import read_json

        write_summary(read_json(args.summarise, what="omp_speed results"), args.daco_results)
        return
    import scipy.linalg  # noqa: F401  (loaded before the thread limits so their pools are covered)
    import sklearn  # noqa: F401
    import torch  # noqa: F401

    threads = use_all_cores(args.threads)
    k = args.k or default_k()
    atoms, source = load_atoms(args)
    x, signals = load_signals(args, source, atoms.shape[1])
    started = time.perf_counter()
    gram = atoms @ atoms.T
    gram_seconds = time.perf_counter() - started
    ours = {"ours": time_ours(x, atoms, k, repeats=args.repeats),
            "ours-gram": time_ours(x, atoms, k, gram=gram, repeats=args.repeats)}
    rows = [{"solver": name, "seconds": round(r["seconds"], 3), "rel_error": float(r["rel_errors"].mean())}
            for name, r in ours.items()]
    print(f"n={len(x)} atoms={len(atoms)} d={atoms.shape[1]} k={k}; ours {rows[0]['seconds']} s, with the Gram "
          f"given {rows[1]['seconds']} s (numpy Gram {gram_seconds:.2f} s)", flush=True)
    for name in filter(None, args.peers.split(",")):
        versus = "ours" if name == "sparse-encode" else "ours-gram"
        rows.append(peer_row(name, x, atoms, k, gram, args, {"solver": versus, "seconds": ours[versus]["seconds"],
                                                              "result": ours[versus]}))
        r = rows[-1]
        print(f"  {name}: {r['seconds']} s{' (extrapolated)' if r['extrapolated'] else ''}, {r['speedup']}× vs "
              f"{versus}; rel. error ours/peer {r['ours_rel_error']:.6f}/{r['peer_rel_error']:.6f}, same support "
              f"{r['same_support']:.1%}", flush=True)
    payload = {"command": "python -m bench.daco.omp_speed " + " ".join(sys.argv[1:]), **machine_info(),
               "threads": threads, "n": len(x), "atoms": len(atoms), "dim": atoms.shape[1], "k": k, "dtype": "float32",
               "signals": signals, **source, "gram_seconds": round(gram_seconds, 3), "goal_speedup": 20, "rows": rows}
    print(f"wrote {write_json(args.out, payload)}")
    write_summary(payload, args.daco_results)


if __name__ == "__main__":
    main()
