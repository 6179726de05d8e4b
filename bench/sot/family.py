"""SOT against its baselines on the benchmark family: settings chosen on validation, reported on test.

For each contamination rate r, every method's settings are chosen on `sot-val-r` by AUROC of −weight against
is_harmful — features (MiniLM pair / joint, SmolLM2 last-token), the anchor design (benign rows only, or with
refusals), SOT's eps, beta and tau, the one-sided methods' eps and tau — and then applied to `sot-test-r`, which
shares no prompt with it (its harmful rows come from another source). A temperature leaves the ranking unchanged
and sets only the weights' spread, so the heuristic's and the classifier's are chosen on validation as the one that
leaves the least harmful weight mass at an effective sample size no smaller than SOT's chosen setting has there.
Test figures: AUROC and precision at the contamination rate with bootstrap 95% intervals, harmful weight mass
(share of the total weight on harmful rows; uniform = the rate) and effective sample size (ESS / n).

    .venv/bin/python -m bench.sot.family                                  # full grid → bench/results/sot_family.*
    .venv/bin/python -m bench.sot.family --grid tiny --features minilm-pair --bootstrap 50 --out runs/family_smoke
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, machine_info, make_parser, write_json

__all__ = ["METHODS", "FEATURES", "ANCHORS", "GRIDS", "candidates", "weigh", "weight_quality", "bootstrap",
           "choose", "tune_temperature", "run_rate", "main"]

METHODS = ("uniform", "heuristic", "classifier", "push-only", "pull-only", "sot")
FEATURES = {"minilm-pair": {"features": "pair"}, "minilm-joint": {"features": "joint"},
            "lm-joint": {"features": "joint", "encoder": "lm"}}
ANCHORS = {"benign": "anchor", "benign+refusal": "anchor-refusal"}
GRIDS = {"full": {"eps": (0.02, 0.05, 0.1), "beta": (0.5, 1.0, 2.0), "tau": (0.05, 0.1, 0.2)},
         "tiny": {"eps": (0.05,), "beta": (1.0,), "tau": (0.1,)}}
TEMPERATURES = tuple(float(t) for t in np.geomspace(0.005, 5.0, 16))
_CACHE: dict[tuple[str, str], tuple] = {}  # (set, features) -> (unit rows, table)


def _features(name: str, feature: str, work: Path):
    """Unit feature rows of a registry set, embedded (and cached) as `curate sot-weight` embeds its inputs."""
    from embed.config import EmbedSettings
    from transport._features import load_features
    from transport.config import SOTConfig
    from transport.pipeline import _clean

    key = (name, feature)
    if key not in _CACHE:
        spec = dict(FEATURES[feature])
        embed = EmbedSettings(encoder=spec.pop("encoder", "text"))
        config = SOTConfig(out=work / "unused.parquet", embed=embed, progress=False, **spec)
        loaded = load_features(f"registry:{name}", config)
        _CACHE[key] = (_clean(loaded, name, "fail")[0], loaded.table)
    return _CACHE[key]


def candidates(method: str, features: list[str], grid: dict) -> list[dict]:
    """Every setting of `method` the validation corpus chooses among (defaults first: ties keep them)."""
    if method == "uniform":
        return [{}]
    base = [{"features": f, "anchor": a} for f, a in itertools.product(features, ANCHORS)]
    if method in ("heuristic", "classifier"):
        return base
    names = ("eps", "beta", "tau") if method == "sot" else ("eps", "tau")  # one side: beta only rescales tau
    knobs = [dict(zip(names, values)) for values in itertools.product(*(grid[k] for k in names))]
    return [dict(b, **k) for b, k in itertools.product(base, knobs)]


def weigh(split: str, rate: int, method: str, setting: dict, work: Path, temperature: float | None = None):
    """(weights [n], is_harmful [n]) of one method and setting on sot-{split}-{rate}."""
    import torch

    from transport._solve import solve_weights
    from transport.config import SOTConfig

    feature = setting.get("features", "minilm-pair")
    x, table = _features(f"sot-{split}-{rate}", feature, work)
    labels = np.asarray(table.column("is_harmful").to_pylist(), dtype=bool)
    if method == "uniform":
        return np.ones(len(x)), labels
    safe = _features(f"sot-{split}-{ANCHORS[setting['anchor']]}", feature, work)[0]
    harmful = _features(f"sot-{split}-reference", feature, work)[0]
    knobs = {k: setting[k] for k in ("eps", "beta", "tau") if k in setting}
    config = SOTConfig(out=work / "unused.parquet", method=method, temperature=temperature, progress=False, **knobs)
    result, _ = solve_weights(x, safe, harmful, config, torch.device("cpu"))
    return np.asarray(result.weights, dtype=np.float64), labels


def weight_quality(weights: np.ndarray, labels: np.ndarray) -> dict:
    """AUROC of −weight, precision among the rate·n lowest weights, harmful weight mass, ESS / n."""
    from transport._report import quality

    ranked = quality(weights, labels)  # what `curate sot-weight` reports; {} when one class is absent
    auroc = ranked.get("auroc", float("nan"))
    # equal weights rank nothing: their precision is a random draw's, the rate (not the first rows' labels)
    precision = float(labels.mean()) if np.ptp(weights) == 0 else ranked.get("precision_at_rate", float("nan"))
    return {"auroc": auroc, "precision_at_rate": precision,
            "harmful_mass": float(weights[labels].sum() / weights.sum()),
            "ess_fraction": float(weights.sum() ** 2 / (len(weights) * (weights ** 2).sum()))}


def bootstrap(weights: np.ndarray, labels: np.ndarray, reps: int, seed: int = 0) -> dict:
    """Percentile 95% intervals of AUROC and precision at the rate over rows resampled with replacement."""
    rng = np.random.default_rng(seed)
    draws = {"auroc": [], "precision_at_rate": []}
    for _ in range(reps):
        pick = rng.integers(0, len(weights), len(weights))
        if 0 < labels[pick].sum() < len(pick):
            q = weight_quality(weights[pick], labels[pick])
            for name in draws:
                draws[name].append(q[name])
    return {f"{name}_ci": [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else None
            for name, v in draws.items()}


def choose(method: str, rate: int, features: list[str], grid: dict, work: Path) -> tuple[dict, dict, list[dict]]:
    """(best setting, its validation quality, the settings whose weights were not finite) by validation AUROC; the
    first of equals wins. A setting with a NaN or infinite weight cannot be chosen; it is listed, not dropped
    silently."""
    best, best_quality, failed = None, None, []
    for setting in candidates(method, features, grid):
        weights, labels = weigh("val", rate, method, setting, work)
        if not np.isfinite(weights).all():
            failed.append(setting)
            print(json.dumps({"rate": rate, "method": method, "setting": setting, "non_finite_weights":
                              int((~np.isfinite(weights)).sum())}), flush=True)
            continue
        quality = weight_quality(weights, labels)
        if best is None or quality["auroc"] > best_quality["auroc"] + 1e-9:
            best, best_quality = setting, quality
    return best, best_quality, failed


def tune_temperature(method: str, rate: int, setting: dict, min_ess: float, work: Path) -> tuple[float, dict]:
    """The temperature that leaves the least harmful mass on validation at ESS / n ≥ min_ess (the warmest when
    none reaches it)."""
    tried = [(t, weight_quality(*weigh("val", rate, method, setting, work, temperature=t))) for t in TEMPERATURES]
    allowed = [(t, q) for t, q in tried if q["ess_fraction"] >= min_ess] or [tried[-1]]
    return min(allowed, key=lambda tq: (tq[1]["harmful_mass"], -tq[0]))


def run_rate(rate: int, args) -> list[dict]:
    """Choose on sot-val-{rate}, report on sot-test-{rate}, SOT first (its validation ESS sets the others')."""
    rows, target_ess = [], args.min_ess
    for method in sorted(args.methods, key=lambda m: m != "sot"):
        began = time.perf_counter()
        setting, val, failed = choose(method, rate, args.features, GRIDS[args.grid], args.work)
        temperature = None
        if method == "sot" and args.min_ess is None:
            target_ess = val["ess_fraction"]
        if method in ("heuristic", "classifier"):
            temperature, val = tune_temperature(method, rate, setting, target_ess or 0.8, args.work)
        weights, labels = weigh("test", rate, method, setting, args.work, temperature)
        if not np.isfinite(weights).all():
            raise SystemExit(f"{method} {setting} gave non-finite weights on sot-test-{rate}")
        test = weight_quality(weights, labels) | bootstrap(weights, labels, args.bootstrap)
        rows.append({"rate": rate, "method": method, "setting": setting, "temperature": temperature,
                     "validation": val, "failed_settings": failed,
                     "test": test, "test_rows": len(labels), "test_harmful": int(labels.sum()),
                     "seconds": round(time.perf_counter() - began, 1)})
        print(json.dumps(rows[-1], default=str), flush=True)
    return rows


def _interval(q: dict, name: str) -> str:
    ci = q.get(f"{name}_ci")
    return f"{q[name]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def markdown(rows: list[dict]) -> str:
    lines = ["| rate | method | chosen on validation | val AUROC | test AUROC [95% CI] | test precision@rate "
             "[95% CI] | harmful mass | ESS/n |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        setting = ", ".join(f"{k}={v}" for k, v in r["setting"].items())
        setting += f", T={r['temperature']:.3g}" if r["temperature"] else ""
        test = r["test"]
        lines.append(f"| {r['rate']}% | {r['method']} | {setting or '-'} | {r['validation']['auroc']:.3f} | "
                     f"{_interval(test, 'auroc')} | {_interval(test, 'precision_at_rate')} | "
                     f"{test['harmful_mass']:.4f} | {test['ess_fraction']:.3f} |")
    failed = [f"{r['rate']}% {r['method']}: {len(r['failed_settings'])}" for r in rows if r.get("failed_settings")]
    if failed:
        lines.append("\nSettings whose weights were not finite on validation (never chosen): " + "; ".join(failed))
    return "\n".join(lines) + "\n"


def _arguments(argv):
    parser = make_parser(__doc__)
    parser.add_argument("--rates", nargs="+", type=int, default=[1, 5, 10])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--features", nargs="+", default=list(FEATURES), choices=list(FEATURES))
    parser.add_argument("--grid", default="full", choices=list(GRIDS))
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates per interval")
    parser.add_argument("--min-ess", type=float, default=None, help="ESS/n the temperatures must keep (default: "
                        "SOT's chosen setting's on validation)")
    parser.add_argument("--work", type=Path, default=Path("runs/sot_family_bench"))
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for sot_family.json and sot_family.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from curate.datasets.sot_family import data_key

    args = _arguments(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"family": data_key(), **machine_info()}))
    rows = [row for rate in args.rates for row in run_rate(rate, args)]
    table = markdown(rows)
    print(table)
    payload = {"family": data_key(), "grid": GRIDS[args.grid], "features": args.features, "rows": rows}
    write_json(args.out / "sot_family.json", payload)
    from curate.io import atomic_write_text

    atomic_write_text(args.out / "sot_family.md", table)


if __name__ == "__main__":
    main()
