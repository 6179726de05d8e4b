"""`curate sot-weight --dask`: the cluster session of one run (pipeline.run drives it).

Inputs that are not embedding folders are embedded on the cluster (embed.run with --dask = this cluster) into the
same cache folders the local run uses; the corpus is then read by the workers from its embedding folder(s) (a
path or fsspec URL every worker sees), the anchor sets (O(m) rows) by the driver. The solve runs on the workers
(transport._solve.solve_sharded) and the weighted Parquet is written by streaming (dask_output.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from embed.store import is_embedding_folder, read_embeddings, read_manifest
from transport._features import LM_POOLING, TEMPLATES, Features, _cache_folder, embed_settings, load_features
from transport.config import SOTConfig
from transport.dask_output import WrittenRows, write_weighted
from transport.dask_shards import embedding_shards

__all__ = ["ClusterRun"]


def _complete(folder: Path) -> bool:
    manifest = folder / "manifest.json"
    return manifest.exists() and all(s.get("complete") for s in json.loads(manifest.read_text()).get("shards", []))


class ClusterRun:
    """One run's Dask cluster (started from --dask, closed on exit), its corpus shards and its writer."""

    def __init__(self, config: SOTConfig):
        self.config, self.corpus, self.table_spec, self.sources = config, None, None, []

    def __enter__(self) -> ClusterRun:
        from embed.dask import connect

        self.client, self._close = connect(self.config.dask)
        self.address = self.client.scheduler.address
        return self

    def __exit__(self, *exc) -> None:
        if self.corpus is not None:
            self.corpus.close()
        self._close()

    def _embedded(self, spec: str) -> list[str]:
        """The cache folders of a table input, one per feature part, embedded on the cluster unless complete."""
        from embed import run as embed_run

        config, settings = self.config, embed_settings(self.config)
        folders = []
        for template in TEMPLATES[config.features]:
            folder = _cache_folder(spec, template, config)
            if not _complete(folder):  # the options of transport._features._embed, plus this cluster
                pooling = {"pooling": LM_POOLING} if settings.encoder == "lm" else {}
                embed_run(settings.embed_config((spec,), folder, template=template, id_field=config.id_field,
                                                device=config.device, on_error=config.on_error,
                                                progress=config.progress, dask=self.address, **pooling))
            folders.append(str(folder))
        return folders

    def corpus_features(self) -> Features:
        """The corpus's shards (read later by the workers); Features with its manifests and an empty [0, d] matrix."""
        spec = self.config.data
        if is_embedding_folder(spec):
            folders, unit = [spec], False
        else:
            folders, unit, self.table_spec = self._embedded(spec), True, spec
        self.sources = embedding_shards(folders, unit)
        manifests = [read_manifest(f) for f in folders]
        dim = sum(int(m.get("dim") or 0) for m in manifests)
        return Features(None, [], np.zeros((0, dim), dtype=np.float32), manifests)

    def anchor_features(self, spec: str) -> Features:
        """An anchor set in the driver (m rows): an embedding folder read as it is, else embedded on the cluster."""
        if is_embedding_folder(spec):
            emb = read_embeddings(spec)  # a path or an fsspec URL alike
            return Features(None, emb.ids, emb.vectors, [emb.manifest])
        self._embedded(spec)
        return load_features(spec, self.config)  # the cache the cluster just filled

    def solve(self, safe: np.ndarray, harmful: np.ndarray):
        """Workers read their shards and solve (transport._solve.solve_sharded); (result, info)."""
        from transport._solve import solve_sharded
        from transport.distributed import ShardedCorpus

        self.corpus = ShardedCorpus(self.client, self.sources)
        return solve_sharded(self.corpus, safe, harmful, self.config)

    @property
    def bad_rows(self) -> int:
        """Corpus rows dropped for a NaN/inf/all-zero vector (under --on-error skip)."""
        return self.corpus.bad_rows

    def write(self, out: Path, columns: dict[str, np.ndarray]) -> WrittenRows:
        """OUT.parquet by streaming: input rows (or ids) joined on id with the per-row columns."""
        return write_weighted(out, self.corpus, self.table_spec, self.config.id_field, columns)
