"""Connecting to Dask: `local:N` starts a LocalCluster of N worker processes, `local-threads:N` one of N threads
in this process (no pickling of the model, one shared copy), anything else is a scheduler address."""

from __future__ import annotations

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
        cluster = LocalCluster(n_workers=1 if threads else int(count), threads_per_worker=int(count) if threads else 1,
                               processes=not threads, dashboard_address=None, silence_logs=40)
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
