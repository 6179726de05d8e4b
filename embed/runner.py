"""Runners: encode and write each shard job, locally (writing in a background thread) or as Dask tasks.

Both receive an encoder *builder*, not an encoder, so the model is built where it runs: once per process
locally, once per Dask worker (cached), and tests can pass a fake.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.errors import InputError
from embed._jobs import ShardJob
from embed.encoders import Encoder
from embed.manifest import Manifest
from embed.writer import shard_name, write_shard

__all__ = ["ShardResult", "encode_job", "write_result", "run_local", "run_dask", "encode_and_write"]

_ENCODERS: dict[str, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


@dataclass
class ShardResult:
    index: int
    ids: list[str]
    vectors: np.ndarray
    token_index: np.ndarray | None
    failures: list[tuple[str, str]]  # (where, why) for records the encoder could not read
    timings: dict


def encode_job(encoder: Encoder, job: ShardJob, on_error: str, progress=None) -> ShardResult:
    """Encode one shard; records that fail (undecodable images) raise, or are dropped under --on-error skip."""
    started = time.perf_counter()
    encoded = encoder.encode(job.items, progress=progress)
    failures = [(job.where[k], why) for k, why in sorted(encoded.failures.items())]
    if failures and on_error == "fail":
        where, why = failures[0]
        raise InputError(f"{where}: {why}; fix or remove it, or pass --on-error skip to skip such records")
    ids, vectors, token_index = job.ids, encoded.vectors, None
    if encoded.token_counts is not None:
        counts = encoded.token_counts
        ids = list(np.repeat(np.asarray(job.ids, dtype=object), counts))
        token_index = np.concatenate([np.arange(c, dtype=np.int32) for c in counts]) if len(counts) else None
    elif failures:
        keep = np.array([k not in encoded.failures for k in range(len(job.ids))])
        ids, vectors = [i for i, ok in zip(job.ids, keep) if ok], vectors[keep]
    timings = {"read_s": round(job.read_seconds, 4), "encode_s": round(time.perf_counter() - started, 4)}
    return ShardResult(job.index, ids, vectors, token_index, failures, timings)


def write_result(out: Path, result: ShardResult, dtype: str, records: int) -> dict:
    """Write the shard; returns its manifest entry."""
    started = time.perf_counter()
    size = write_shard(out, result.index, result.ids, result.vectors, dtype, result.token_index)
    timings = {**result.timings, "write_s": round(time.perf_counter() - started, 4)}
    return {"index": result.index, "name": shard_name(result.index), "rows": len(result.ids),
            "records": records - len(result.failures), "skipped": len(result.failures), "bytes": size,
            "timings": timings}


def _cached_encoder(builder: Callable[[], Encoder]) -> Encoder:
    """The worker's encoder for this builder, built on first use (one model per worker process)."""
    key = getattr(builder, "cache_key", None) or pickle.dumps(builder).hex()
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = builder()
        return _ENCODERS[key]


def encode_and_write(builder, job: ShardJob, out: str, dtype: str, on_error: str):
    """One Dask task: encode a shard and write it from the worker; returns (manifest entry, dim, failures)."""
    result = encode_job(_cached_encoder(builder), job, on_error)
    return write_result(Path(out), result, dtype, len(job.ids)), int(result.vectors.shape[1]), result.failures


def _write_and_describe(config, result, n_rows: int):
    """The writer thread's job: write the shard; return (manifest entry, dim, failures) for settle()."""
    return write_result(config.out, result, config.dtype, n_rows), int(result.vectors.shape[1]), result.failures


def run_local(jobs: Iterable[ShardJob], builder, manifest: Manifest, config, report, bar) -> None:
    """In-process: encode shard k while shard k-1 is written by a background thread."""
    encoder = None
    pending = None

    def settle():
        entry, dim, failures = pending.result()
        manifest.complete(entry, dim)
        report(failures)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-writer") as pool:
        try:
            for job in jobs:
                if manifest.completed(job.index):
                    bar.update(len(job.ids))
                    continue
                encoder = encoder or builder()
                manifest.begin(job.index, shard_name(job.index))
                result = encode_job(encoder, job, config.on_error, progress=bar.update)
                manifest.check_dim(int(result.vectors.shape[1]))
                if pending is not None:
                    settle()
                pending = pool.submit(_write_and_describe, config, result, len(job.ids))
        except BaseException:
            # keep the shard already being written: a rerun then starts after it
            if pending is not None and not pending.cancel() and pending.exception() is None:
                settle()
            raise
        if pending is not None:
            settle()


def _shard_result(future, index: int, out: Path):
    """A shard task's (manifest entry, dim, failures); a lost worker becomes WorkerLostError naming the shard."""
    from embed.dask import WorkerLostError, worker_lost

    try:
        return future.result()
    except Exception as err:
        if not worker_lost(err):
            raise
        raise WorkerLostError(f"a Dask worker died while embedding shard {index} ({type(err).__name__}: {err}); the "
                              f"shards finished so far are kept in {out} and this one was not written. Rerun the "
                              "same command to finish the folder (give workers more memory if one was killed for "
                              "lack of it)") from err


def run_dask(jobs: Iterable[ShardJob], builder, manifest: Manifest, config, report, bar) -> None:
    """One task per shard on a Dask cluster; at most two tasks per worker in flight, so memory stays bounded.

    A worker that dies under a task has it rerun elsewhere by Dask; when Dask gives up (or the cluster restarts),
    WorkerLostError says which shard, and the finished shards stay listed so a rerun continues from them.
    """
    from distributed import wait

    from embed.dask import connect

    client, close = connect(config.dask)
    try:
        limit = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        in_flight: dict = {}

        def settle(done):
            for future in done:
                entry, dim, failures = _shard_result(future, in_flight.pop(future), config.out)
                manifest.complete(entry, dim)
                report(failures)
                bar.update(entry["records"] + len(failures))

        for job in jobs:
            if manifest.completed(job.index):
                bar.update(len(job.ids))
                continue
            manifest.begin(job.index, shard_name(job.index))
            future = client.submit(encode_and_write, builder, job, str(config.out), config.dtype, config.on_error,
                                   pure=False)
            in_flight[future] = job.index
            if len(in_flight) >= limit:
                settle(wait(list(in_flight), return_when="FIRST_COMPLETED").done)
        settle(wait(list(in_flight)).done if in_flight else [])
    finally:
        close()
