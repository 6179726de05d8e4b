"""The fair bench's committed store: the small finished outputs that outlive the machine's --work folder.

--work (runs/...) is lost when the machine is replaced; the store (bench/results/cast/store/, committed) keeps
what each stage finished, in --work's own layout, so that a fresh machine copies it back instead of recomputing:

    settings.json                          the FIXED settings every stored output was made with
    data/<set>.parquet, data/source.json   the sets (~130 kB) and their sizes, seed and a sha256 of each set's rows
    map_a/, map_b/, map_a_taylor/          conflict_map.parquet + manifest.json (the columns; pictures are redrawn)
    stability.json, cost.json              the maps' stability and the cost check
    arms/<key>/outcome.json                row (rates, intervals), per-prompt verdicts, per-row NLL, training
                                           metrics and the budget (frozen heads) the arm was trained with
    arms/<key>/answers.parquet             the greedy answers the verdicts judged (kept out of the JSON)

Files are written atomically and each entry's done-marker (manifest.json, outcome.json) last, so a stopped run
never leaves half an entry that a later run would trust. No model weights are stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from curate.errors import ConfigError, InputError

__all__ = ["MAP_FOLDERS", "settings_change", "check_settings", "split_hashes", "keep_splits", "keep_maps",
           "keep_json", "keep_arm", "restore", "stored_arms", "check_budget"]

MAP_FOLDERS = ("map_a", "map_b", "map_a_taylor")
MAP_FILES = ("conflict_map.parquet", "manifest.json")  # the manifest last: it marks the map finished
ANSWER_KINDS = ("harmful", "benign")


def settings_change(held: dict, wanted: dict) -> str:
    """'--lr 0.0001 -> 0.001, ...' for the settings that differ; '' when none does."""
    changed = sorted(k for k in wanted if held.get(k) != wanted[k])
    return ", ".join(f"--{k.replace('_', '-')} {held.get(k)} -> {wanted[k]}" for k in changed)


def check_settings(store: Path, wanted: dict) -> None:
    """Refuse a store made with other settings (its outputs would be reused); a new store records `wanted`."""
    from bench.common import write_json

    path = store / "settings.json"
    if not path.exists():
        store.mkdir(parents=True, exist_ok=True)
        write_json(path, wanted)
        return
    change = settings_change(json.loads(path.read_text()), wanted)
    if change:
        raise ConfigError(f"--store {store}: its outputs were made with other settings ({change}); continue with "
                          "the stored settings, or pass another --store (or --no-store) for a run with these")


def _copy(source: Path, target: Path) -> None:
    from curate.io import atomic_write_bytes

    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, source.read_bytes())


def split_hashes(splits: dict) -> dict[str, str]:
    """sha256 of each set's rows (canonical JSON, in row order): equal hashes mean identical sets."""
    out = {}
    for name, table in sorted(splits.items()):
        text = json.dumps(table.to_pylist(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        out[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return out


def keep_splits(store: Path, folder: Path, splits: dict) -> None:
    """Store the sets of --work's data `folder`, or, when the store has them, check that `splits` are the same
    rows (a registry that reads differently on this machine would silently change every later comparison)."""
    from bench.common import write_json

    hashes, stored = split_hashes(splits), store / "data" / "source.json"
    if stored.exists():
        held = json.loads(stored.read_text()).get("sha256", {})
        differ = sorted(name for name in hashes if held.get(name) != hashes[name])
        if differ:
            raise InputError(f"--work {folder.parent}: the sets {', '.join(differ)} differ from the ones in --store "
                             f"{store} (sha256 of their rows); the registry reads other rows on this machine. "
                             f"To continue on the stored sets, copy {store / 'data'} to {folder}; else use a new "
                             "--store")
        return
    for name in splits:
        _copy(folder / f"{name}.parquet", store / "data" / f"{name}.parquet")
    source = json.loads((folder / "source.json").read_text())
    write_json(stored, {**source, "sha256": hashes})


def keep_maps(store: Path, work: Path) -> None:
    """Store every finished map of `work` the store lacks, and the latest stability.json."""
    for name in MAP_FOLDERS:
        if (work / name / MAP_FILES[-1]).exists() and not (store / name / MAP_FILES[-1]).exists():
            for file in MAP_FILES:
                _copy(work / name / file, store / name / file)
    if (work / "stability.json").exists():
        _copy(work / "stability.json", store / "stability.json")


def keep_json(store: Path, name: str, payload: dict) -> None:
    from bench.common import write_json

    write_json(store / name, payload)


def keep_arm(store: Path, key: str, result: dict) -> None:
    """Store one finished arm (or the base model): its answers as Parquet, then the rest as outcome.json."""
    import pyarrow as pa

    from bench.common import write_json
    from curate.io import write_parquet

    folder = store / "arms" / key
    if (folder / "outcome.json").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    outcome = dict(result["outcome"])
    answers = {kind: outcome.pop(f"{kind}_answers", None) for kind in ANSWER_KINDS}
    if all(a is not None for a in answers.values()):
        kinds = [kind for kind in ANSWER_KINDS for _ in answers[kind]]
        write_parquet(pa.table({"set": kinds, "index": [i for kind in ANSWER_KINDS for i in range(len(answers[kind]))],
                                "answer": [a for kind in ANSWER_KINDS for a in answers[kind]]}),
                      folder / "answers.parquet")
    write_json(folder / "outcome.json", {**result, "outcome": outcome})


def _stored_arm(folder: Path) -> dict:
    """outcome.json of a stored arm with its answers put back (as --work holds it)."""
    from curate.io import read_table

    record = json.loads((folder / "outcome.json").read_text())
    if (folder / "answers.parquet").exists():
        table = read_table(folder / "answers.parquet", what="a stored arm's answers").to_pydict()
        for kind in ANSWER_KINDS:
            record["outcome"][f"{kind}_answers"] = [a for s, a in zip(table["set"], table["answer"]) if s == kind]
    return record


def restore(store: Path, work: Path) -> list[str]:
    """Copy every finished map and arm the store has and `work` lacks into `work`; the names restored.

    The sets are not copied: the data stage rebuilds them from the registry and `keep_splits` checks them.
    """
    from bench.common import write_json

    done = []
    for name in MAP_FOLDERS:
        if (store / name / MAP_FILES[-1]).exists() and not (work / name / MAP_FILES[-1]).exists():
            for file in MAP_FILES:
                _copy(store / name / file, work / name / file)
            done.append(name)
    if (store / "stability.json").exists() and not (work / "stability.json").exists():
        _copy(store / "stability.json", work / "stability.json")
    for folder in sorted((store / "arms").glob("*/outcome.json")):
        key = folder.parent.name
        if not (work / "arms" / key / "outcome.json").exists():
            (work / "arms" / key).mkdir(parents=True, exist_ok=True)
            write_json(work / "arms" / key / "outcome.json", _stored_arm(folder.parent))
            done.append(key)
    return done


def stored_arms(arms: Path) -> tuple[dict | None, list[dict]]:
    """(the base model's record or None, every trained arm's record) of an arms folder (the store's or --work's)."""
    base, records = None, []
    for path in sorted(arms.glob("*/outcome.json")):
        record = json.loads(path.read_text())
        if path.parent.name == "base":
            base = record
        else:
            records.append(record)
    return base, records


def check_budget(key: str, result: dict, planned: dict) -> None:
    """A finished arm (perhaps restored) must have frozen the heads this run's plan gives it; ConfigError if not."""
    held = result.get("budget")
    if held is None or (held["heads"] == planned["heads"] and held["updated_params"] == planned["updated_params"]):
        return
    raise ConfigError(f"arm {key}: its finished result froze heads {held['heads']} ({held['updated_params']:,} "
                      f"parameters updated) but this run's plan gives {planned['heads']} "
                      f"({planned['updated_params']:,}); the maps or the plan changed since it ran: use a new "
                      f"--store and --work (or remove arms/{key} from both)")
