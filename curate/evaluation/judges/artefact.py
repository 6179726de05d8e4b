"""The judge artefact: one versioned JSON (+ a .safetensors beside it for tensors); no pickle anywhere.

    {"kind": "rules" | "linear" | "cross-encoder" | "lm" | "lm-prefix", "version": 2, "verdicts": [...],
     "trained_on": {...}, "metrics": {...}, "parameters": {...},
     "tensors": {"file": "NAME.safetensors", "sha256": "..."}   # only when the judge has tensors}

The shipped default (`default_judge()`) is curate/evaluation/data/judge-v2.json, (re)built by
`python -m bench.eval.judge_choice`; nothing trains on first use. Files of the earlier binary judge
({"kind": "refusal-judge/v1"}) still load, as a judge that never says degenerate.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

from curate.errors import InputError
from curate.evaluation.judges.base import Judge
from curate.evaluation.verdicts import VERDICTS
from curate.io import atomic_write_bytes, atomic_write_text, read_json, read_safetensors

__all__ = ["ARTEFACT_VERSION", "KINDS", "DEFAULT_JUDGE", "judge_class", "save_judge", "load_judge", "read_artefact",
           "default_judge"]

ARTEFACT_VERSION = 2
KINDS = {
    "rules": "curate.evaluation.judges.rules:RulesJudge",
    "linear": "curate.evaluation.judges.linear:LinearJudge",
    "cross-encoder": "curate.evaluation.judges.cross_encoder:CrossEncoderJudge",
    "lm": "curate.evaluation.judge_lm:LMJudge",
    "lm-prefix": "curate.evaluation.judges.lm_prefix:PrefixLMJudge",
}
"""kind -> "module:class" of every judge an artefact can hold (imported only when that kind is used)."""
LEGACY_KIND = "refusal-judge/v1"
_LEGACY = "curate.evaluation.judges.legacy:RefusalJudge"
DEFAULT_JUDGE = Path(__file__).resolve().parents[1] / "data" / f"judge-v{ARTEFACT_VERSION}.json"
"""The judge `curate eval` and `curate judge` use unless given --judge."""
_WHAT = "a judge file written by `python -m bench.eval.judge_choice` (or save_judge)"
_FIX = "rebuild it with `python -m bench.eval.judge_choice --save PATH`, or pass another --judge"


def judge_class(kind: str) -> type[Judge]:
    """The class of one judge kind (see KINDS; LEGACY_KIND is the earlier binary judge)."""
    if kind not in KINDS and kind != LEGACY_KIND:
        raise InputError(f"unknown judge kind '{kind}'; the kinds are {', '.join(KINDS)}")
    module, name = (KINDS.get(kind) or _LEGACY).split(":")
    return getattr(importlib.import_module(module), name)


def save_judge(judge: Judge, path: str | Path, trained_on: dict | None = None, metrics: dict | None = None) -> Path:
    """Write `judge` to `path` (JSON) and its tensors, if any, to the .safetensors beside it (both atomically)."""
    path = Path(path)
    payload: dict[str, Any] = {"kind": judge.kind, "version": ARTEFACT_VERSION, "verdicts": list(VERDICTS),
                               "trained_on": trained_on or {}, "metrics": metrics or {}, "parameters": judge.to_dict()}
    tensors = judge.tensors()
    if tensors:
        from safetensors.torch import save

        data = save(tensors)
        tensor_path = path.with_suffix(".safetensors")
        atomic_write_bytes(tensor_path, data)
        payload["tensors"] = {"file": tensor_path.name, "sha256": hashlib.sha256(data).hexdigest()}
    import json

    atomic_write_text(path, json.dumps(payload, indent=1) + "\n")
    return path


def read_artefact(path: str | Path) -> dict[str, Any]:
    """The artefact's JSON, checked: a judge of a known kind, this version and these verdicts."""
    path = Path(path)
    raw = read_json(path, what=_WHAT)
    if not isinstance(raw, dict) or "kind" not in raw:
        raise InputError(f"{path}: not a judge file (no 'kind' entry); give {_WHAT}")
    if raw["kind"] == LEGACY_KIND:
        return raw
    if raw["kind"] not in KINDS:
        raise InputError(f"{path}: a file of kind '{raw['kind']}', not a judge (kinds: {', '.join(KINDS)}); "
                         f"give {_WHAT}")
    if raw.get("version") != ARTEFACT_VERSION:
        raise InputError(f"{path}: judge file version {raw.get('version')!r}, but this safecurate reads version "
                         f"{ARTEFACT_VERSION}; {_FIX}")
    if list(raw.get("verdicts", [])) != list(VERDICTS):
        raise InputError(f"{path}: verdicts {raw.get('verdicts')} differ from {list(VERDICTS)}; {_FIX}")
    return raw


def _tensors(path: Path, entry: dict | None) -> dict[str, Any] | None:
    if not entry:
        return None
    tensor_path = path.with_name(entry["file"])
    data = tensor_path.read_bytes() if tensor_path.is_file() else b""
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise InputError(f"{tensor_path}: missing or not the tensors {path.name} was saved with (sha256 differs); "
                         f"keep the .json and .safetensors of one judge together, or {_FIX}")
    return read_safetensors(tensor_path, what=f"the tensors of {path.name}")


def load_judge(path: str | Path) -> Judge:
    """The judge saved at `path` (any kind), with `trained_on` and `metrics` attached as attributes."""
    path = Path(path)
    raw = read_artefact(path)
    try:
        if raw["kind"] == LEGACY_KIND:
            return judge_class(LEGACY_KIND).from_payload(raw)
        judge = judge_class(raw["kind"]).from_dict(raw["parameters"], _tensors(path, raw.get("tensors")))
    except InputError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: a corrupt {raw['kind']} judge ({type(err).__name__}: {err}); {_FIX}") from err
    judge.trained_on, judge.metrics = raw.get("trained_on", {}), raw.get("metrics", {})
    return judge


def default_judge() -> Judge:
    """The shipped judge (package data), chosen by held-out accuracy; see `judge.trained_on` and `judge.metrics`."""
    if not DEFAULT_JUDGE.exists():
        raise InputError(f"{DEFAULT_JUDGE}: the shipped judge is missing from this installation; reinstall "
                         "safecurate, or build one with `python -m bench.eval.judge_choice` and pass --judge")
    return load_judge(DEFAULT_JUDGE)
