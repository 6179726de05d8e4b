"""Connecting to Dask: `local:N` starts a LocalCluster of N worker processes, `local-threads:N` one of N threads
in this process (no pickling of the model, one shared copy), anything else is a scheduler address."""

from __future__ import annotations

import os
from collections.abc import Callable

from curate.errors import ConfigError, require

__all__ = ["connect"]


def connect(address: str) -> tuple[object, Callable[[], None]]:
    """(distributed.Client, close function) for a --dask address."""
    require("distributed", "dask[distributed]")
    from distributed import Client, LocalCluster

    if address.startswith("local"):
        kind, count = address.split(":")
        threads = kind == "local-threads"
        workers = 1 if threads else int(count)
        # each worker process gets its share of the cores, so N torch thread pools do not fight over them
        share = str(max(1, (os.cpu_count() or 1) // workers))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=int(count) if threads else 1,
                               processes=not threads, dashboard_address=None, silence_logs=40,
                               **({} if threads else {"env": {"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share}}))
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
