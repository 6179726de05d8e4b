"""SOT quality: the five methods on contaminated-sft and contaminated-sft-hard, features joint | response | pair.

For every (split, features, method): AUROC of −sot_weight against is_harmful, precision among the lowest-weighted
rows at the contamination rate, and solver runtime. Anchors are registry:safe-anchor (pull) and
registry:harmful-reference (push), which share no rows with the corpora. Embeddings are MiniLM (mean-pooled, unit)
and cached under --work. While the dataset registry is not installed, the same real source files are split the
way the registry does (bench/_sot_e2e_data.py) and the run says so.

    .venv/bin/python bench/sot_quality.py --work runs/sot_quality
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("sot", "heuristic", "pull-only", "push-only", "uniform")
TEMPLATES = {"joint": ("{prompt}\n{response}",), "response": ("{response}",), "pair": ("{prompt}", "{response}")}
WORK = Path("runs/sot_quality")


def tables(name: str):
    """(table, source): registry when installed; the hard split is built from the fallback tables otherwise."""
    import pyarrow as pa

    from bench._sot_e2e_data import REFUSALS, _bucket, load

    if name != "contaminated-sft-hard":
        return load(name)
    try:
        return load(name)
    except KeyError:
        soft, source = load("contaminated-sft")
        rows = soft.to_pylist()
        harmful = [r for r in rows if r["is_harmful"]]
        refused = [dict(r, id=r["id"] + "-refusal", response=REFUSALS[_bucket(r["prompt"], len(REFUSALS))],
                        is_harmful=False) for r in harmful]
        return pa.Table.from_pylist(rows + refused), source


def features(name: str, kind: str) -> np.ndarray:
    """Unit [n, d·k] features of a registry set (k = 1, or 2 for pair), cached as .npy."""
    from curate.evaluation.judge import encode_texts

    table, _ = tables(name)
    rows = table.to_pylist()
    parts = []
    for template in TEMPLATES[kind]:
        key = hashlib.sha256(json.dumps([name, template, [r["id"] for r in rows]]).encode()).hexdigest()[:16]
        cache = WORK / "cache" / f"{name}-{key}.npy"
        if not cache.exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            texts = [template.format(prompt=r["prompt"] or "", response=r.get("response") or "") for r in rows]
            np.save(cache, encode_texts(texts))
        parts.append(np.load(cache))
    x = np.concatenate(parts, axis=1)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def embed_sets(corpus: str, kind: str):
    """(corpus, safe, harmful features, is_harmful labels)."""
    table, _ = tables(corpus)
    labels = np.asarray(table.column("is_harmful").to_pylist(), dtype=bool)
    return (features(corpus, kind), features("safe-anchor", kind), features("harmful-reference", kind), labels)


def evaluate(corpus: str, kind: str, overrides: dict) -> list[dict]:
    import torch

    from transport._config import SOTConfig
    from transport._report import quality
    from transport._solve import solve_weights

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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--splits", nargs="+", default=["contaminated-sft", "contaminated-sft-hard"])
    parser.add_argument("--features", nargs="+", default=["joint", "response", "pair"])
    parser.add_argument("--set", nargs="*", default=[], help="SOTConfig overrides, e.g. beta=0.5 tau=0.2")
    args = parser.parse_args()
    WORK = args.work
    overrides = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    print(json.dumps({"data_source": tables("contaminated-sft")[1], "overrides": overrides}))
    rows = [r for split in args.splits for kind in args.features for r in evaluate(split, kind, overrides)]
    print("\n| split | features | method | AUROC | precision@rate | seconds |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['split']} | {r['features']} | {r['method']} | {r['auroc']:.4f} | {r['precision_at_rate']:.3f} "
              f"| {r['seconds']:.1f} |")
    (WORK / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
