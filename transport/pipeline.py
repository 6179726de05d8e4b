"""`curate sot-weight` as a function: inputs → embeddings (cached) → push-pull weights → Parquet, JSON, PNG."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from curate.config import save_config
from curate.errors import ConfigError, InputError
from curate.io import check_output
from transport._features import Features, load_features
from transport._report import keep_mask, quality, write_parquet, write_png
from transport._solve import solve_weights
from transport.config import SOTConfig

__all__ = ["SOTConfig", "run", "relative_change", "convergence_note"]


def _check_compatible(corpus: Features, anchors: Features, name: str) -> None:
    if corpus.vectors.shape[1] != anchors.vectors.shape[1] or _model(corpus) != _model(anchors):
        raise InputError(
            f"the corpus and the {name} anchors were embedded differently: corpus manifest model={_model(corpus)} "
            f"dim={corpus.vectors.shape[1]}, {name} manifest model={_model(anchors)} dim={anchors.vectors.shape[1]}; "
            "embed both with the same --model and --features"
        )


def _model(features: Features):
    return [m.get("model_fingerprint") or m.get("model") for m in features.manifests][:1]


def _clean(features: Features, name: str, on_error: str) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors of the good rows, boolean mask of good rows); bad = NaN/inf/zero rows."""
    x = features.vectors
    norms = np.linalg.norm(x, axis=1)
    good = np.isfinite(x).all(axis=1) & (norms > 0)
    if not good.all() and on_error == "fail":
        bad = [features.ids[i] for i in np.flatnonzero(~good)[:5]]
        raise InputError(f"{name}: {int((~good).sum())} row(s) have NaN/inf or all-zero embeddings (ids: {bad}); "
                         "fix them or pass --on-error skip to drop and count them")
    return np.ascontiguousarray(x[good] / norms[good, None], dtype=np.float32), good


def relative_change(objective: list[float]) -> float | None:
    """|J_t − J_{t−1}| / |J_t| of the last two accepted steps (what push_pull compares with tol); None before two."""
    if len(objective) < 2:
        return None
    return abs(objective[-1] - objective[-2]) / max(abs(objective[-1]), 1e-12)


def convergence_note(summary: dict, config: SOTConfig) -> str | None:
    """One plain line for the command's output when the learner stopped before tol; None when it converged.

    The pipeline runs push_pull with warn=False: weights.json records the outcome, and this line says it once.
    """
    if summary["converged"]:
        return None
    steps = summary["outer_iterations"]
    change = summary["relative_change"]
    if change is None:
        reached = f"too few steps to compare with tol {config.tol:g}"
    else:
        reached = f"relative change {change:.2g} > tol {config.tol:g}"
    stopped = f"stopped after {steps} outer step{'s' if steps != 1 else ''}"
    if steps < config.max_outer:  # push_pull gave up: every smaller step raised the objective
        return (f"{stopped}, {reached}: every smaller step raised the objective; raise --inner-max-iter or lower "
                "--inner-tol to go further")
    return f"{stopped}, {reached}; raise --max-outer to go further"


def run(config: SOTConfig) -> dict:
    """Weight the corpus; returns the summary also written to OUT.json."""
    import pyarrow as pa

    from curate.device import apply_threads, resolve_device

    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    check_output(out, "file", inputs=(config.data, config.safe, config.harmful))
    apply_threads(config)
    timings, start = {}, time.perf_counter()
    if config.dask is not None:
        return _run_dask(config, timings, start)
    corpus, safe, harmful = (load_features(s, config) for s in (config.data, config.safe, config.harmful))
    timings["embed"] = time.perf_counter() - start
    _check_compatible(corpus, safe, "safe")
    _check_compatible(corpus, harmful, "harmful")
    x, good = _clean(corpus, "corpus", config.on_error)
    y_safe, _ = _clean(safe, "safe anchors", config.on_error)
    y_harm, _ = _clean(harmful, "harmful anchors", config.on_error)
    result, info = solve_weights(x, y_safe, y_harm, config, resolve_device(config.device))
    timings["solve"] = result.seconds
    table = corpus.table if corpus.table is not None else pa.table({"id": corpus.ids})
    table = table.filter(pa.array(good))
    keep = keep_mask(result.weights, config.keep_fraction, config.top_k)
    write_parquet(table, _columns(result, keep), out)
    labelled = "is_harmful" in table.column_names
    labels = np.asarray(table.column("is_harmful").to_pylist(), dtype=bool) if labelled else None
    skipped_anchors = [int(len(safe.ids) - len(y_safe)), int(len(harmful.ids) - len(y_harm))]
    return _finish(config, result, info, keep, int((~good).sum()), skipped_anchors, labels, timings, start)


def _run_dask(config: SOTConfig, timings: dict, start: float) -> dict:
    """The --dask run: the corpus stays on the workers (transport/dask_pipeline.py), anchors come here."""
    from transport.dask_pipeline import ClusterRun

    with ClusterRun(config) as cluster:
        corpus = cluster.corpus_features()
        safe, harmful = cluster.anchor_features(config.safe), cluster.anchor_features(config.harmful)
        timings["embed"] = time.perf_counter() - start
        _check_compatible(corpus, safe, "safe")
        _check_compatible(corpus, harmful, "harmful")
        y_safe, _ = _clean(safe, "safe anchors", config.on_error)
        y_harm, _ = _clean(harmful, "harmful anchors", config.on_error)
        result, info = cluster.solve(y_safe, y_harm)
        timings["solve"] = result.seconds
        keep = keep_mask(result.weights, config.keep_fraction, config.top_k)
        written = cluster.write(Path(config.out), _columns(result, keep))
        skipped = cluster.bad_rows + written.unembedded
    skipped_anchors = [int(len(safe.ids) - len(y_safe)), int(len(harmful.ids) - len(y_harm))]
    return _finish(config, result, info, keep, skipped, skipped_anchors, written.labels, timings, start,
                   picture=_picture_rows(len(result.weights), config.seed))


PICTURE_ROWS = 200_000
"""Rows the --dask run draws in OUT.png at most (a seeded sample): matplotlib holds every point it draws, ~200 MB
for 1e6 rows, which a driver that must not grow with n cannot afford."""


def _picture_rows(n: int, seed: int) -> np.ndarray | None:
    if n <= PICTURE_ROWS:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, PICTURE_ROWS, replace=False))


def _columns(result, keep: np.ndarray) -> dict[str, np.ndarray]:
    return {"sot_weight": result.weights, "pull_potential": result.pull_potential,
            "push_potential": result.push_potential, "keep": keep}


def _finish(config: SOTConfig, result, info: dict, keep: np.ndarray, skipped: int, skipped_anchors: list[int],
            labels: np.ndarray | None, timings: dict, start: float, picture: np.ndarray | None = None) -> dict:
    """OUT.png (of the rows in `picture`, default all), the summary, and OUT.json beside the Parquet; returns the
    summary."""
    out = Path(config.out)
    rows = slice(None) if picture is None else picture
    write_png(result.weights[rows], result.pull_potential[rows], result.push_potential[rows], keep[rows],
              out.with_suffix(".png"))
    summary = {"rows": int(len(result.weights)), "skipped_rows": int(skipped),
               "skipped_anchor_rows": skipped_anchors,
               "down_weighted": int((result.weights < 0.5).sum()), "kept": int(keep.sum()),
               "converged": bool(result.converged), "outer_iterations": int(result.outer_iterations),
               "relative_change": relative_change(result.objective),
               "files": [str(out), str(out.with_suffix(".json")), str(out.with_suffix(".png"))]}
    if labels is not None:
        summary.update(quality(result.weights, labels))
    timings["total"] = time.perf_counter() - start
    save_config(config, out.with_suffix(".json"), summary=summary, solver=info, objective=result.objective,
                converged=result.converged, outer_iterations=result.outer_iterations,
                inner_iterations=result.inner_iterations, marginal_error=list(result.marginal_error),
                rejected_steps=result.rejected_steps, final_eta=result.final_eta, timings=timings)
    return summary
