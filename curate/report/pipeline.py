"""Report section of a `curate run` folder: the stages that ran, read from the stamps they left beside outputs.

A stamp is `OUT.stage.json` beside each stage's output (curate.recipe writes it last, after the stage finished):
{name, stage, out, config_hash, output_fingerprint, seconds, finished_at, config}.
"""

from __future__ import annotations

import json
from pathlib import Path

from curate.report.html import Section, details, key_values, table

__all__ = ["STAMP_SUFFIX", "stamp_path", "read_stamps", "pipeline_section"]

STAMP_SUFFIX = ".stage.json"


def stamp_path(out: str | Path) -> Path:
    """Where the stamp of an output lives: beside it, named after it."""
    out = Path(out)
    return out.with_name(out.name + STAMP_SUFFIX)


def read_stamps(folder: str | Path) -> list[dict]:
    """The readable stamps under `folder` (two levels deep), in the order the stages finished."""
    folder = Path(folder)
    stamps = []
    for path in sorted([*folder.glob("*" + STAMP_SUFFIX), *folder.glob("*/*" + STAMP_SUFFIX)]):
        try:
            stamp = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(stamp, dict) and "stage" in stamp:
            stamps.append(stamp)
    return sorted(stamps, key=lambda s: str(s.get("finished_at", "")))


def pipeline_section(folder: Path, stamps: list[dict]) -> Section:
    """One row per finished stage, with each stage's resolved settings folded below."""
    rows = [[s.get("name"), s.get("stage"), s.get("out"), s.get("seconds"), s.get("finished_at"),
             str(s.get("config_hash", ""))[:12]] for s in stamps]
    body = table(["stage", "kind", "output", "seconds", "finished (UTC)", "config hash"], rows,
                 table_id="pipeline-stages")
    body += "".join(details(f"Settings of {s.get('name')}", key_values(s.get("config") or {})) for s in stamps)
    return Section("pipeline", "Pipeline stages", body, str(folder))
