"""The benchmark's stimulus pool: the WordNet gloss and examples of every vocabulary concept plus a seeded random
sample of the rest of the default pool (WordNet + man pages), so a small CPU run still has each concept's own
definition among its candidates. Written as a user pool file (id, text)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_bench_pool(path: Path, num_concepts: int, extra: int, seed: int = 0) -> Path:
    import polars as pl

    from concepts.pool import default_pool
    from concepts.vocab import wordnet_vocabulary
    from curate.io import write_parquet

    if path.is_file():
        return path
    vocab = wordnet_vocabulary(num_concepts)
    pool = default_pool(path.with_name("default-pool.parquet"))
    prefixes = {f"wn-{s}" for s in vocab["synset"]}
    own = pool.filter(pl.col("id").str.slice(0, 12).is_in(list(prefixes)))
    rest = pool.filter(~pl.col("id").is_in(own["id"]))
    pick = np.sort(np.random.default_rng(seed).choice(rest.height, min(extra, rest.height), replace=False))
    frame = pl.concat([own, rest[pick]]).select("id", "text")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(frame, path)
    print(f"bench pool: {own.height} own-concept sentences + {len(pick)} others -> {path}", flush=True)
    return path
