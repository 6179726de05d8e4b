"""SOT quality: the five methods on contaminated-sft and contaminated-sft-hard, features joint | response | pair.

For every (split, features, method): AUROC of −sot_weight against is_harmful, precision among the lowest-weighted
rows at the contamination rate, and solver runtime. Anchors are registry:safe-anchor (pull) and
registry:harmful-reference (push), which share no rows with the corpora. Embeddings are MiniLM (mean-pooled, unit),
computed by the embed stage through `transport._features` and cached exactly as `curate sot-weight` caches them.

    .venv/bin/python -m bench.sot.quality --work runs/sot_quality
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench.common import machine_info, make_parser, write_json

METHODS = ("sot", "heuristic", "pull-only", "push-only", "uniform")
WORK = Path("runs/sot_quality")


def _features(name: str, kind: str):
    """Unit features of a registry set through the sot-weight pipeline's embedding stage (cached like the CLI)."""
    from transport._features import load_features
    from transport.config import SOTConfig
    from transport.pipeline import _clean

    config = SOTConfig(out=WORK / "unused.parquet", features=kind, progress=False)
    loaded = load_features(f"registry:{name}", config)
    return _clean(loaded, name, "fail")[0], loaded.table


def embed_sets(corpus: str, kind: str):
    """(corpus, safe, harmful features, is_harmful labels), embedded by `embed/` exactly as `curate sot-weight`."""
    x, table = _features(corpus, kind)
    labels = np.asarray(table.column("is_harmful").to_pylist(), dtype=bool)
    return x, _features("safe-anchor", kind)[0], _features("harmful-reference", kind)[0], labels


def evaluate(corpus: str, kind: str, overrides: dict) -> list[dict]:
    import torch

    from transport._report import quality
    from transport._solve import solve_weights
    from transport.config import SOTConfig

    x, safe, harm, labels = embed_sets(corpus, kind)
    rows = []
    for method in METHODS:
        config = SOTConfig(out=Path("unused.parquet"), method=method, progress=False, **overrides)
        start = time.perf_counter()
        result, _ = solve_weights(x, safe, harm, config, torch.device("cpu"))
        q = quality(result.weights, labels) if method != "uniform" else {"auroc": 0.5, "precision_at_rate":
                                                                          float(labels.mean())}
        rows.append({"split": corpus, "features": kind, "method": method, "auroc": round(q["auroc"], 4),
                     "precision_at_rate": round(q["precision_at_rate"], 4),
                     "seconds": round(time.perf_counter() - start, 2), "n": len(x), "harmful": int(labels.sum()),
                     "outer": result.outer_iterations})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    global WORK
    parser = make_parser(__doc__)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--splits", nargs="+", default=["contaminated-sft", "contaminated-sft-hard"])
    parser.add_argument("--features", nargs="+", default=["joint", "response", "pair"])
    parser.add_argument("--set", nargs="*", default=[], help="SOTConfig overrides, e.g. beta=0.5 tau=0.2")
    args = parser.parse_args()
    import torch

    WORK = args.work
    overrides = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    print(json.dumps({"data_source": "registry", "overrides": overrides, "torch_threads": torch.get_num_threads(),
                      **machine_info()}))
    WORK.mkdir(parents=True, exist_ok=True)
    rows = [r for split in args.splits for kind in args.features for r in evaluate(split, kind, overrides)]
    print("\n| split | features | method | AUROC | precision@rate | seconds |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['split']} | {r['features']} | {r['method']} | {r['auroc']:.4f} | {r['precision_at_rate']:.3f} "
              f"| {r['seconds']:.1f} |")
    write_json(WORK / "results.json", rows)


if __name__ == "__main__":
    main()
