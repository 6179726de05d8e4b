"""Grouped K-fold cross-validation of judge candidates on the train split (bench.eval.judge_choice --select cv).

Folds hold whole prompts (no answer is scored by a judge fitted on another answer to its prompt) and are the same
for every kind. Per outer fold a kind is fitted on the other folds' rows with its own inner choice inside (rules:
its threshold grid; lm-prefix: its head and C by its own grouped CV on those rows), so a kind's CV figure comes
from one out-of-fold verdict per row, not from the best of several variants.

lm-prefix shows worked examples drawn from the whole train split (as its fit on train does): its word
log-probabilities are computed once under them, cached in chunks, and each fold's head is fitted on them. So that
no scored answer has its prompt among the examples (no held-out prompt has), the rows of the example prompts are
left out of every kind's CV score; which rows that is follows from the labels, --lm-shots and the judge's seed
alone (`pick_examples`), so the scored rows are the same whichever kinds run.

Work folder: manifest.json (labels fingerprint, folds, seed, left-out prompts; another run's folder is an error
naming it), <kind>/options.json, <kind>/fold-NN.json (one fold's out-of-fold verdicts, written atomically when the
fold is done) and lm-prefix/logprobs-NNNNN.npy (chunks of the model pass). A stopped run resumes at the first
missing file.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np

from curate.errors import ConfigError, InputError

__all__ = ["prompt_folds", "left_out_prompts", "CrossValidation", "held_out_ids", "write_predictions",
           "paired_with_rules"]

_CHUNK = 64  # answers per cached piece of the lm-prefix model pass (~1 CPU-minute on two cores)


def prompt_folds(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """[n] fold index of each row: whole prompts dealt, largest first (ties in a seeded shuffle), to the fold
    with the fewest rows so far."""
    names, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    if not 2 <= folds <= len(names):
        raise ConfigError(f"--folds {folds}: need between 2 and the {len(names)} prompts of the train split")
    sizes = np.bincount(index)
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of, load = np.empty(len(names), dtype=int), np.zeros(folds, dtype=int)
    for group in order:
        fold_of[group] = int(np.argmin(load))
        load[fold_of[group]] += sizes[group]
    return fold_of[index]


def left_out_prompts(train, shots: int, seed: int) -> list[str]:
    """Prompt ids of lm-prefix's worked examples on the train split (`pick_examples` with its shots and seed)."""
    from curate.evaluation.judge_lm import pick_examples

    shown = pick_examples(train.prompts, train.responses, train.verdicts, shots, seed)
    return sorted({str(train.groups[i]) for i in shown})


def _fingerprint(train) -> str:
    digest = hashlib.sha256()
    for row in zip(train.prompts, train.responses, train.verdicts.tolist(), train.groups.tolist()):
        digest.update(json.dumps(row).encode() + b"\n")
    return digest.hexdigest()[:16]


def _pick(values: list, rows: np.ndarray) -> list:
    return [values[i] for i in rows]


def _empty_degenerate(verdicts: np.ndarray, responses: list[str]) -> np.ndarray:
    """What Judge.predict does for empty answers, for verdicts made without it (lm-prefix from cached scores)."""
    return np.where([not r.strip() for r in responses], "degenerate", np.asarray(verdicts, dtype=str))


class CrossValidation:
    """One train split's folds and work folder; `run(kind, options)` gives that kind's CV row."""

    def __init__(self, train, folds: int, seed: int, lm_options: dict, work: Path, n_boot: int = 2000):
        from curate.evaluation.judges import judge_class

        lm = judge_class("lm-prefix")(**lm_options)  # lazy: no model loads here
        left_out = left_out_prompts(train, lm.shots, lm.seed)
        self.train, self.work, self.n_boot, self.seed = train, Path(work), n_boot, seed
        self.fold = prompt_folds(train.groups, folds, seed)
        self.scored = ~np.isin(train.groups, left_out)
        self.spec = {"labels": train.source, "fingerprint": _fingerprint(train), "folds": folds, "seed": seed,
                     "left_out_prompts": left_out, "n": int(self.scored.sum())}
        self._claim(self.work / "manifest.json", self.spec, "folds")

    def _claim(self, path: Path, payload: dict, what: str) -> None:
        """Write payload to path, or check that the earlier run's is the same (its cache would not fit)."""
        from curate.io import atomic_write_text, read_json

        if path.is_file():
            earlier = read_json(path, "a judge CV cache file")
            if earlier != json.loads(json.dumps(payload)):
                changed = sorted(k for k in set(earlier) | set(payload) if earlier.get(k) != payload.get(k))
                raise InputError(f"{path}: cached for other {what} ({', '.join(changed)} differ); pass another "
                                 f"--work or delete {path.parent}")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(payload, indent=1) + "\n")

    def run(self, kind: str, options: dict) -> dict:
        """{spec, seconds, per_fold, [selection,] n, accuracy, balanced_accuracy, recall, confusion} on scored rows."""
        from curate.evaluation.judges import score_verdicts

        folder = self.work / kind
        self._claim(folder / "options.json", {"kind": kind, **options}, "options")
        started = time.perf_counter()
        predicted = np.full(len(self.train), "", dtype=object)
        folds = [self._fold(kind, options, f, folder) for f in range(self.spec["folds"])]
        for fold in folds:
            predicted[fold["rows"]] = fold["verdicts"]
        rows = np.flatnonzero(self.scored)
        result = score_verdicts(self.train.verdicts[rows], predicted[rows].astype(str), self.train.groups[rows],
                                n_boot=self.n_boot, seed=self.seed)
        row = {"spec": self.spec, "seconds": round(time.perf_counter() - started, 1),
               "per_fold": [{"fold": f, "n": len(d["rows"]), "k": d["k"], "seconds": d["seconds"]}
                            for f, d in enumerate(folds)], **result}
        if any(d.get("selection") for d in folds):
            row["selection"] = [d["selection"] for d in folds]
        return row

    def _fold(self, kind: str, options: dict, fold: int, folder: Path) -> dict:
        from curate.io import atomic_write_text, read_json

        path = folder / f"fold-{fold:02d}.json"
        if path.is_file():
            return read_json(path, "a cached CV fold")
        started = time.perf_counter()
        test = np.flatnonzero((self.fold == fold) & self.scored)
        if kind == "lm-prefix":
            verdicts, selection = self._prefix_fold(options, fold, test)
        else:
            verdicts, selection = self._plain_fold(kind, options, fold, test)
        right = int((np.asarray(verdicts, dtype=str) == self.train.verdicts[test]).sum())
        result = {"fold": fold, "rows": test.tolist(), "verdicts": list(map(str, verdicts)), "k": right,
                  "seconds": round(time.perf_counter() - started, 1), "selection": selection}
        atomic_write_text(path, json.dumps(result) + "\n")
        print(f"{kind}: CV fold {fold}: {right}/{len(test)} right ({result['seconds']} s)", flush=True)
        return result

    def _plain_fold(self, kind: str, options: dict, fold: int, test: np.ndarray) -> tuple[np.ndarray, dict | None]:
        from curate.evaluation.judges import judge_class

        t, fit = self.train, np.flatnonzero(self.fold != fold)
        judge = judge_class(kind)(**options).fit(_pick(t.prompts, fit), _pick(t.responses, fit), t.verdicts[fit])
        verdicts = judge.predict(_pick(t.prompts, test), _pick(t.responses, test)).verdict
        return verdicts, getattr(judge, "selection", None) or None

    def _prefix_fold(self, options: dict, fold: int, test: np.ndarray) -> tuple[np.ndarray, dict]:
        from curate.evaluation.judges import judge_class

        t = self.train
        judge, keep, logprobs = self.prefix_pass(options)
        score = dict(zip(keep.tolist(), logprobs))
        fit = np.array([i for i in keep if self.fold[i] != fold], dtype=int)
        inner = judge_class("lm-prefix")(**options, examples=judge.examples)  # no head: chosen inside the fold
        inner.fit_logprobs(_pick(t.prompts, fit), _pick(t.responses, fit), t.verdicts[fit],
                           np.array([score[i] for i in fit]).reshape(-1, 3))
        prompts, responses = _pick(t.prompts, test), _pick(t.responses, test)
        verdicts = inner.predict_logprobs(prompts, responses, np.array([score[i] for i in test]).reshape(-1, 3))
        chosen = inner.selection.get("chosen", {})
        best = max(inner.selection.get("variants", []), key=lambda v: v["k"], default={})
        return _empty_degenerate(verdicts.verdict, responses), {**chosen, "inner_k": best.get("k"),
                                                                "inner_n": inner.selection.get("n")}

    def prefix_pass(self, options: dict):
        """(lm-prefix judge with its examples from the whole train split, rows not shown [m], their [m, 3]
        word log-probabilities), the model pass read from / written to the cache chunk by chunk."""
        from curate.evaluation.judges import judge_class
        from curate.io import atomic_write_bytes

        t = self.train
        self._claim(self.work / "lm-prefix" / "options.json", {"kind": "lm-prefix", **options}, "options")
        judge = judge_class("lm-prefix")(**options)
        shown = judge.show_examples(t.prompts, t.responses, t.verdicts)
        keep = np.setdiff1d(np.arange(len(t)), shown)
        parts = []
        for start in range(0, len(keep), _CHUNK):
            rows, path = keep[start: start + _CHUNK], self.work / "lm-prefix" / f"logprobs-{start // _CHUNK:05d}.npy"
            if path.is_file():
                part = np.load(path)
            else:
                part = judge.word_logprobs(_pick(t.prompts, rows), _pick(t.responses, rows))
                buffer = io.BytesIO()
                np.save(buffer, part)
                atomic_write_bytes(path, buffer.getvalue())
                print(f"lm-prefix: scored {start + len(rows)}/{len(keep)} train answers", flush=True)
            if part.shape != (len(rows), 3):
                raise InputError(f"{path}: {part.shape} scores for {len(rows)} answers; delete it to recompute")
            parts.append(part)
        return judge, keep, np.concatenate(parts) if parts else np.zeros((0, 3))

    def fit_on_train(self, kind: str, options: dict):
        """The kind fitted on the whole train split (what held-out scores and --save writes); lm-prefix reuses
        the cached model pass, which is exactly what its fit would compute."""
        from curate.evaluation.judges import judge_class

        t = self.train
        if kind != "lm-prefix":
            return judge_class(kind)(**options).fit(t.prompts, t.responses, t.verdicts)
        judge, keep, logprobs = self.prefix_pass(options)
        return judge.fit_logprobs(_pick(t.prompts, keep), _pick(t.responses, keep), t.verdicts[keep], logprobs)


def held_out_ids(spec: str, labels) -> list[str]:
    """The `id` of each row of `labels` (load_labels(spec, "test"), in its order); a content hash of prompt and
    response where the file has no id column."""
    from embed import open_input

    table = open_input(spec)
    if "id" in table.column_names and "split" in table.column_names:
        keep = [s in ("test", "heldout") for s in table.column("split").to_pylist()]  # as load_labels reads it
        ids = [str(i) for i, k in zip(table.column("id").to_pylist(), keep) if k]
        if len(ids) == len(labels):
            return ids
    return [hashlib.sha256(f"{p}\x00{r}".encode()).hexdigest()[:16]
            for p, r in zip(labels.prompts, labels.responses)]


def write_predictions(path: Path, ids: list[str], labels, verdicts: dict[str, np.ndarray]):
    """Write (id, prompt_id, label, verdict_KIND ...) for the held-out rows, keeping an earlier file's columns
    of kinds not scored now when its ids and labels are the same rows; the merged table."""
    import pyarrow as pa

    from curate.io import read_table, write_parquet

    columns = {"id": ids, "prompt_id": labels.groups.tolist(), "label": labels.verdicts.tolist()}
    if path.is_file():
        earlier = read_table(path)
        if all(earlier.column(k).to_pylist() == v for k, v in columns.items() if k in earlier.column_names):
            columns |= {name: earlier.column(name).to_pylist() for name in earlier.column_names
                        if name.startswith("verdict_")}
        else:
            print(f"note: {path} holds other held-out rows; written afresh")
    columns |= {f"verdict_{kind}": np.asarray(v, dtype=str).tolist() for kind, v in verdicts.items()}
    table = pa.table(columns)
    write_parquet(table, path)
    return table


def paired_with_rules(table, chosen: str) -> dict:
    """Held-out accuracy of the chosen kind and of rules (Wilson) and McNemar on their per-answer correctness
    (b01: answers only the chosen kind gets right, b10: only rules)."""
    from curate.evaluation.stats import mcnemar, rate

    names = {"chosen": f"verdict_{chosen}", "rules": "verdict_rules"}
    missing = [n for n in names.values() if n not in table.column_names]
    if missing:
        return {"note": f"no held-out predictions {', '.join(missing)}: run --candidates {chosen},rules"}
    label = np.asarray(table.column("label").to_pylist(), dtype=str)
    right = {arm: np.asarray(table.column(name).to_pylist(), dtype=str) == label for arm, name in names.items()}
    test = mcnemar(right["rules"], right["chosen"])
    result = {"n": int(label.size), "chosen": {"kind": chosen, **rate(int(right["chosen"].sum()), label.size)},
              "rules": rate(int(right["rules"].sum()), label.size), "mcnemar": {"a": "rules", "b": chosen, **test}}
    return result | ({"note": "the choice is rules itself: no difference to test"} if chosen == "rules" else {})
