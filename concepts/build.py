"""`run(BuildConfig)`: vocabulary → pool → retrieval → activations → directions → merge → labels → dictionary."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import numpy as np

from concepts.config import BuildConfig
from curate.config import save_config
from curate.errors import InputError

__all__ = ["run"]


class _Timer(dict):
    @contextmanager
    def phase(self, name: str):
        started = time.perf_counter()
        print(f"[build-dictionary] {name} ...", flush=True)
        yield
        self[name] = round(time.perf_counter() - started, 2)


def _pool(config: BuildConfig):
    import polars as pl

    from concepts.pool import load_pool

    config.work.mkdir(parents=True, exist_ok=True)
    pool = load_pool(config.pool, cache=config.work / "default-pool.parquet")
    if config.pool_limit is not None and config.pool_limit < pool.height:
        keep = np.sort(np.random.default_rng(config.seed).choice(pool.height, config.pool_limit, replace=False))
        pool = pool[keep]
    if config.clip_model is not None and "image" not in pool.columns:
        raise InputError(f"--clip-model {config.clip_model}: the pool has no `image` column; give an "
                         "image-caption pool, or drop --clip-model for a text pool")
    return pool.with_columns(pl.col("id").cast(pl.Utf8))


def _query_texts(vocab, clip: bool) -> list[str]:
    if clip:
        return [f"a photo of {name}." for name in vocab["name"]]
    return [f"{n}: {g}" if g else n for n, g in zip(vocab["name"], vocab["gloss"])]


def _embed(config: BuildConfig, frame, name: str, *, clip: bool = False, images: bool = False) -> np.ndarray:
    from concepts._embedding import embed_frame

    if clip:
        return embed_frame(frame, config.work / name, model=config.clip_model, encoder="clip",
                           image_field="image" if images else None, clip_pretrained=config.clip_pretrained,
                           device=config.device, dask=config.dask, progress=config.progress)
    return embed_frame(frame, config.work / name, model=config.retrieval_model, device=config.device,
                       dask=config.dask, progress=config.progress)


def _retrieval_views(config: BuildConfig, vocab, pool):
    """(concept vectors, caption vectors, image vectors or None) in the retrieval space."""
    import polars as pl

    clip = config.clip_model is not None
    queries = pl.DataFrame({"id": vocab["concept_id"], "text": _query_texts(vocab, clip)})
    concepts = _embed(config, queries, "concepts-clip" if clip else "concepts", clip=clip)
    captions = _embed(config, pool.select("id", "text"), "pool-clip" if clip else "pool", clip=clip)
    images = _embed(config, pool.select("id", "text", "image"), "pool-images", clip=True, images=True) if clip else None
    return concepts, captions, images


def _stimuli_table(vocab, pool, found, keep: np.ndarray):
    """stimuli.parquet rows: concept_id, stimulus_id, modality, score (distance), role, text."""
    import polars as pl

    modality = "image-caption" if "image" in pool.columns else "text"
    ids, texts = pool["id"].to_numpy(), pool["text"].to_numpy()
    parts = []
    for role, index, dist in (("pos", found.pos_index, found.pos_dist), ("neg", found.neg_index, found.neg_dist)):
        c, j = np.nonzero((index >= 0) & keep[:, None])
        rows = index[c, j]
        parts.append(pl.DataFrame({"concept_id": vocab["concept_id"].to_numpy()[c], "stimulus_id": ids[rows],
                                   "modality": [modality] * len(c), "score": dist[c, j].astype(np.float32),
                                   "role": [role] * len(c), "text": texts[rows]}))
    return pl.concat(parts)


def _directions(config: BuildConfig, pool, found, keep, layers):
    """{layer: [K_kept, d]} difference-of-means directions of the kept concepts."""
    import polars as pl

    from concepts.activations import stimulus_activations
    from concepts.directions import mean_difference

    pos, neg = found.pos_index[keep], found.neg_index[keep]
    used = np.unique(np.concatenate([pos[pos >= 0], neg[neg >= 0]]))
    where = np.full(pool.height, -1)
    where[used] = np.arange(len(used))
    stimuli = pl.DataFrame({"id": pool["id"].to_numpy()[used], "text": pool["text"].to_numpy()[used]})
    acts = stimulus_activations(stimuli, config.work, model=config.model, layers=layers,
                                batch_size=config.batch_size, max_length=config.max_length, device=config.device,
                                dask=config.dask, progress=config.progress)
    remap = lambda index: np.where(index >= 0, where[np.maximum(index, 0)], -1)  # noqa: E731
    return {L: mean_difference(acts[L], remap(pos), remap(neg)) for L in layers}, len(used)


def _labels(config: BuildConfig, vocab, concept_vectors: np.ndarray):
    import polars as pl

    from concepts.labels import assign_labels, read_label_file, score_concepts
    from curate.datasets import load_dataset_table

    harmful = load_dataset_table("harmful-prompts", "train").column("prompt").to_pylist() if config.label_data else []

    def embed_texts(texts: list[str]) -> np.ndarray:
        from embed.records import content_hash

        frame = pl.DataFrame({"id": [content_hash([t]) for t in texts], "text": texts})
        frame = frame.unique("id", maintain_order=True)
        vectors = _embed(config, frame, f"label-texts-{content_hash(texts)}")
        position = {i: k for k, i in enumerate(frame["id"])}
        return vectors[[position[content_hash([t])] for t in texts]]

    scores = score_concepts(concept_vectors, embed_texts, harmful, synsets=vocab["synset"].to_list())
    labels = assign_labels(scores, config.harm_threshold, config.data_threshold,
                           config.desirable_threshold).astype(object)
    if config.labels is not None:
        override = read_label_file(config.labels)
        for k, (cid, name) in enumerate(zip(vocab["concept_id"], vocab["name"])):
            labels[k] = override.get(cid, override.get(name, labels[k]))
    return labels.astype(str), scores


def _peak_rss_mb() -> float:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _kept(config: BuildConfig, vocab, found) -> np.ndarray:
    """Concepts with ≥ 1 positive; the others are reported (and listed in the manifest)."""
    import polars as pl

    keep = found.n_pos > 0
    dropped = vocab["name"].filter(pl.Series(~keep)).to_list()
    if dropped:
        print(f"[build-dictionary] {len(dropped)} concepts have no stimulus with cosine >= {config.min_similarity} "
              f"and are dropped, e.g. {dropped[:8]}", flush=True)
    if not keep.any():
        raise InputError(f"no concept has a stimulus with cosine >= --min-similarity {config.min_similarity}; "
                         "lower it or give a larger/more relevant --pool")
    return keep


def _leaders(directions: dict, layers: list[int], names: list[str], threshold: float):
    """(indices of the cluster leaders, {leader: names merged into it})."""
    from concepts.directions import merge_duplicates

    stacked = np.concatenate([directions[L] for L in layers], axis=1) / np.sqrt(len(layers))
    leader = merge_duplicates(stacked, threshold)
    leaders = np.flatnonzero(leader == np.arange(len(leader)))
    members = {i: [] for i in leaders}
    for i, lead in enumerate(leader):
        if lead != i:
            members[lead].append(names[i])
    return leaders, members


def _concept_table(kept, leaders, members, labels, scores, found, keep, layer: int):
    import polars as pl

    n_pos, n_neg = (found.pos_index[keep] >= 0).sum(1), (found.neg_index[keep] >= 0).sum(1)
    return kept[leaders].select("concept_id", "name", "synset", "gloss", "group").with_columns(
        pl.Series("label", labels), pl.Series("n_pos", n_pos[leaders].astype(np.int32)),
        pl.Series("n_neg", n_neg[leaders].astype(np.int32)), pl.Series("layer", [layer] * len(leaders)),
        pl.Series("merged", [members[i] for i in leaders], dtype=pl.List(pl.Utf8)),
        pl.Series("harm_score", scores["harm_lexicon"].astype(np.float32)),
        pl.Series("harm_category", scores["harm_category"]),
        pl.Series("harm_data_score", scores["harm_data"].astype(np.float32)))


def _run_on_one_cluster(config: BuildConfig) -> dict:
    """--dask local:N / local-threads:N: one cluster serves every embedding and activation stage of the build
    (each stage would start and stop its own), and the workers keep their models between stages; it stops at the
    end. build_config.json records --dask as given, not the cluster's address."""
    from dataclasses import replace

    from embed.dask import connect

    client, close = connect(config.dask)
    try:
        manifest = run(replace(config, dask=client.scheduler.address))
    finally:
        close()
    save_config(config, config.out / "build_config.json")
    return manifest


def run(config: BuildConfig) -> dict:
    """Build the dictionary into `config.out`; returns the manifest (also written to manifest.json)."""
    import polars as pl
    from transformers import AutoConfig

    from concepts._plot import plot_dictionary
    from concepts.activations import parse_layers
    from concepts.dictionary_io import ConceptDictionary, save_dictionary
    from concepts.retrieve import retrieve
    from concepts.vocab import load_vocabulary
    from curate.device import apply_threads
    from curate.io import check_output
    from curate.models import model_fingerprint, resolve_model_path

    check_output(config.out, "folder", inputs=(config.concepts, config.pool, config.labels))
    if config.dask is not None and config.dask.startswith("local"):
        return _run_on_one_cluster(config)
    apply_threads(config)
    timer = _Timer()
    num_layers = int(AutoConfig.from_pretrained(resolve_model_path(config.model)).num_hidden_layers)
    layers = parse_layers(config.layers, num_layers)
    middle = layers[len(layers) // 2]
    config.out.mkdir(parents=True, exist_ok=True)
    save_config(config, config.out / "build_config.json")
    with timer.phase("vocabulary"):
        vocab = load_vocabulary(config.concepts, config.num_concepts)
    with timer.phase("pool"):
        pool = _pool(config)
    with timer.phase("embed"):
        concept_vectors, captions, images = _retrieval_views(config, vocab, pool)
    with timer.phase("retrieval"):
        found = retrieve(concept_vectors, captions, images=images, positives=config.positives,
                         negatives=config.negatives, candidates=config.candidates, background=config.background,
                         scale=config.scale, min_similarity=config.min_similarity, index=config.index,
                         seed=config.seed, device=config.device)
    keep = _kept(config, vocab, found)
    kept = vocab.filter(pl.Series(keep))
    with timer.phase("activations"):
        directions, n_stimuli = _directions(config, pool, found, keep, layers)
    with timer.phase("merge"):
        leaders, members = _leaders(directions, layers, kept["name"].to_list(), config.merge_threshold)
    with timer.phase("labels"):
        label_vectors = concept_vectors[keep][leaders]
        if config.clip_model is not None:  # labels are scored in MiniLM space whatever the retrieval space
            label_vectors = _embed(config, pl.DataFrame({"id": kept["concept_id"], "text": _query_texts(kept, False)}),
                                   "concepts")[leaders]
        labels, scores = _labels(config, kept[leaders], label_vectors)
    table = _concept_table(kept, leaders, members, labels, scores, found, keep, middle)
    atoms = {L: directions[L][leaders] for L in layers}
    stimuli = _stimuli_table(vocab, pool, found, keep).filter(pl.col("concept_id").is_in(table["concept_id"].to_list()))
    dropped = vocab["name"].filter(pl.Series(~keep)).to_list()
    manifest = {
        "model": config.model, "model_fingerprint": model_fingerprint(config.model),
        "pooling": "mean-after-first-token",
        "retrieval_model": config.clip_model or config.retrieval_model, "pool": config.pool, "pool_size": pool.height,
        "index": found.index_kind, "vocabulary": vocab.height, "dropped_no_stimuli": len(dropped),
        "dropped_examples": dropped[:50], "merged": int(keep.sum() - len(leaders)), "n_concepts": len(leaders),
        "unique_stimuli": n_stimuli,
        "labels": {k: int((labels == k).sum()) for k in ("desirable", "undesirable", "neutral")},
        "timings_s": dict(timer), "peak_rss_mb": _peak_rss_mb(),
        "distance": "sqrt(-(ln s_img + ln s_txt))" if config.clip_model else "sqrt(-ln s_txt)",
    }
    save_dictionary(ConceptDictionary(layers=layers, atoms={L: _tensor(a) for L, a in atoms.items()}, concepts=table,
                                      manifest=manifest), config.out, stimuli=stimuli)
    plot_dictionary(atoms[middle], labels.tolist(), table["name"].to_list(), config.out / "dictionary.png",
                    f"{len(leaders)} concept directions, {config.model} layer {middle}")
    return json.loads((config.out / "manifest.json").read_text())


def _tensor(array: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
