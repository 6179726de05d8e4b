"""Per-token activation shards (`curate embed --pooling none`) streamed as shuffled training batches.

Only one shard plus a shuffle buffer is in memory at a time. The stream is a pure function of (folder, seed,
batch size, buffer size), so a resumed run skips the batches already trained on and sees exactly the batches
an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.errors import InputError

__all__ = ["ActivationSource", "open_activations"]


@dataclass(frozen=True)
class ActivationSource:
    """An activation folder: its manifest, per-token layout and shard files."""

    folder: Path
    manifest: dict
    shards: tuple[str, ...]
    skip_first_token: bool = False

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def layer(self) -> int | None:
        return self.manifest.get("layer")

    @property
    def rows(self) -> int:
        return int(self.manifest.get("rows") or 0)

    def read_shard(self, name: str) -> np.ndarray:
        """float32 [rows, d] of one shard (without each record's first token when asked); a corrupt shard, one
        without an `embedding` column or one holding NaN/inf is an InputError naming it."""
        return self._read(name, with_ids=False)[0]

    def read_records(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(the rows of `read_shard(name)`, the record id of each row as an object array), from one read of the
        shard; a shard without an `id` column is an InputError naming it."""
        return self._read(name, with_ids=True)

    def _read(self, name: str, with_ids: bool) -> tuple[np.ndarray, np.ndarray | None]:
        from curate.io import read_table, require_columns

        path = self.folder / name
        table = read_table(path, what="the shards written by `curate embed --encoder lm --pooling none`")
        require_columns(table, ["id", "embedding"] if with_ids else ["embedding"], path)
        flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vectors = np.asarray(flat, dtype=np.float32).reshape(-1, self.dim)
        if not np.isfinite(vectors).all():
            raise InputError(f"{path}: {int((~np.isfinite(vectors)).sum())} activation values are NaN or infinite; "
                             "re-embed the input with `curate embed ... --pooling none` (check the model's dtype)")
        # ids only when asked: a training epoch reads every shard and needs none of them
        ids = np.asarray(table.column("id").to_pylist(), dtype=object) if with_ids else None
        if self.skip_first_token and "token_index" in table.column_names:
            keep = table.column("token_index").to_numpy() != 0
            vectors, ids = vectors[keep], (ids[keep] if with_ids else None)
        return vectors, ids

    def iter_shards(self, order: np.ndarray | None = None) -> Iterator[np.ndarray]:
        for i in (range(len(self.shards)) if order is None else order):
            yield self.read_shard(self.shards[i])

    def batches(self, batch_size: int, seed: int, buffer_rows: int, skip: int = 0) -> Iterator[np.ndarray]:
        """Endless shuffled batches [batch_size, d]: shards in a fresh seeded order each epoch, rows mixed
        across shards inside a buffer of `buffer_rows`. The first `skip` batches are drawn but not yielded."""
        rng = np.random.default_rng(seed)
        leftover = np.zeros((0, self.dim), dtype=np.float32)
        drawn = 0
        while True:
            parts, held, epoch_rows = [leftover], len(leftover), 0
            for shard in self.iter_shards(rng.permutation(len(self.shards))):
                parts.append(shard)
                held += len(shard)
                epoch_rows += len(shard)
                if held >= buffer_rows:
                    leftover = yield from self._drain(np.concatenate(parts), batch_size, rng, skip, drawn)
                    drawn += (held - len(leftover)) // batch_size
                    parts, held = [leftover], len(leftover)
            if epoch_rows == 0:
                raise InputError(f"{self.folder}: no activations left to train on (every record has one token "
                                 "and --skip-first-token drops it); pass --no-skip-first-token")
            leftover = np.concatenate(parts)
            if held >= batch_size:
                leftover = yield from self._drain(leftover, batch_size, rng, skip, drawn)
                drawn += (held - len(leftover)) // batch_size

    @staticmethod
    def _drain(buffer: np.ndarray, batch_size: int, rng: np.random.Generator, skip: int, drawn: int):
        """Yield full shuffled batches from `buffer`; return the rows that do not fill a batch."""
        buffer = buffer[rng.permutation(len(buffer))]
        full = len(buffer) // batch_size
        for b in range(full):
            if drawn + b >= skip:
                yield buffer[b * batch_size:(b + 1) * batch_size]
        return buffer[full * batch_size:]

    def sample(self, max_rows: int, seed: int = 0) -> np.ndarray:
        """Up to `max_rows` rows spread over every shard (for b_dec initialisation and held-out metrics)."""
        per_shard = max(1, -(-max_rows // max(1, len(self.shards))))
        rng = np.random.default_rng(seed)
        parts = []
        for shard in self.iter_shards():
            take = min(per_shard, len(shard))
            parts.append(shard[np.sort(rng.choice(len(shard), take, replace=False))] if take < len(shard) else shard)
        rows = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)
        return rows[:max_rows]


def open_activations(folder: str | Path, *, skip_first_token: bool = False,
                     option: str = "--activations") -> ActivationSource:
    """Check that `folder` holds complete, non-empty per-token activations and describe them."""
    from embed.store import read_manifest

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{option} {folder}: no such folder; make one with "
                         "`curate embed INPUT --encoder lm --pooling none --layer L --out DIR`")
    manifest = read_manifest(folder)
    shards = manifest.get("shards") or []
    unfinished = [s["name"] for s in shards if not s.get("complete")]
    if unfinished:
        raise InputError(f"{option} {folder}: shards {unfinished[:3]} are not complete; rerun the same "
                         "`curate embed` command to finish them")
    if manifest.get("pooling") != "none":
        raise InputError(f"{option} {folder}: holds {manifest.get('pooling')!r}-pooled vectors, one per record; "
                         "an SAE trains on per-token activations: `curate embed ... --encoder lm --pooling none`")
    nonempty = tuple(s["name"] for s in shards if s.get("rows", 0) > 0)
    if not nonempty or not manifest.get("dim"):
        raise InputError(f"{option} {folder}: the shards hold no activations (0 rows); embed a non-empty input")
    return ActivationSource(folder, manifest, nonempty, skip_first_token)
