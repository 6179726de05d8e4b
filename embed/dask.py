"""Connecting to Dask: `local:N` starts a LocalCluster of N worker processes, `local-threads:N` one worker with N
threads in this process (no pickling of the model, one shared copy), `threads` the same with one thread;
anything else is a scheduler address (the cluster then outlives the job)."""

from __future__ import annotations

import os
from collections.abc import Callable

from curate.errors import ConfigError, CurateError, require

__all__ = ["connect", "WorkerLostError", "worker_lost"]


class WorkerLostError(CurateError, RuntimeError):
    """A Dask worker died (killed, out of memory, restarted) while it ran or held part of the job."""


def worker_lost(err: BaseException) -> bool:
    """Is `err` what Dask raises when a worker dies under a task or an actor, or the cluster restarts?"""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError

    message = str(err).lower()
    if isinstance(err, (KilledWorker, FutureCancelledError, CommClosedError)):
        return True
    # an actor whose worker is gone: RuntimeError("Worker holding Actor was lost") or OSError("Unable to contact
    # Actor's worker"); a file error on a worker (FileNotFoundError, ...) is no lost worker
    return (type(err) is RuntimeError and "lost" in message) or (type(err) is OSError and "worker" in message)


def _local_cluster(address: str):
    from distributed import LocalCluster

    kind, _, count = address.partition(":")
    if kind != "threads" and not count.isdigit() or count and int(count) < 1:
        raise ConfigError(f"--dask {address!r}: use local:N or local-threads:N with N ≥ 1, threads, or a scheduler "
                          "address such as tcp://10.0.0.1:8786")
    if kind in ("threads", "local-threads"):
        return LocalCluster(n_workers=1, threads_per_worker=int(count or 1), processes=False, dashboard_address=None,
                            silence_logs=40)
    workers = int(count)
    # each worker process gets its share of the cores, so N torch thread pools do not fight over them
    share = str(max(1, (os.cpu_count() or 1) // workers))
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=40, env={"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share})


def connect(address: str) -> tuple[object, Callable[[], None]]:
    """(distributed.Client, close function) for a --dask address; close also stops a cluster started here."""
    require("distributed", "dask[distributed]")
    from distributed import Client

    if address == "threads" or address.startswith("local"):
        cluster = _local_cluster(address)
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    try:
        client = Client(address, timeout="30s")
    except OSError as err:
        raise ConfigError(f"--dask {address}: no Dask scheduler answers there ({err}); start one with "
                          "`dask scheduler` and workers with `dask worker ADDRESS`, or use --dask local:N") from err
    return client, client.close
