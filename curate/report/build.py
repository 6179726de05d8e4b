"""`curate report`: find the outputs at RUN, draw one section per output, write one self-contained HTML page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from curate.errors import CurateError, InputError
from curate.io import atomic_write_text, check_output
from curate.report.config import ReportConfig
from curate.report.detect import KINDS, find_outputs
from curate.report.html import Section, note, page
from curate.report.pipeline import pipeline_section, read_stamps

__all__ = ["run", "build_sections"]


def _builders() -> dict[str, Callable[..., Section]]:
    from curate.report.corpus import corpus_section, export_section
    from curate.report.dictionary import dictionary_section
    from curate.report.evaluation import evaluation_section, judged_section
    from curate.report.trainer import embeddings_section, trainer_section

    return {"corpus": corpus_section, "export": export_section, "judged": judged_section,
            "embeddings": embeddings_section, "dictionary": dictionary_section, "evaluation": evaluation_section,
            "trainer": trainer_section}


def _ordered(outputs: list[tuple[str, Path]], stamps: list[dict]) -> list[tuple[str, Path]]:
    """Outputs in the order their stages finished (stamped ones first), the rest in name order."""
    finished = {str(Path(s.get("out", "")).resolve()): i for i, s in enumerate(stamps)}
    return sorted(outputs, key=lambda item: finished.get(str(item[1].resolve()), len(finished)))


def build_sections(run_path: Path, max_rows: int) -> list[Section]:
    """One section per output at `run_path` (a pipeline section first for a `curate run` folder).

    A single output that cannot be read raises; inside a folder, an unreadable output becomes an error section
    so the rest of the page still appears.
    """
    run_path = Path(run_path)
    if not run_path.exists():
        raise InputError(f"{run_path} does not exist; give an output of a curate command or a `curate run` folder")
    outputs = find_outputs(run_path)
    if not outputs:
        raise InputError(f"{run_path}: found no pipeline output ({', '.join(KINDS)}) there or two levels below; "
                         "give the --out of `curate sot-weight`, `export`, `embed`, `build-dictionary`, `eval`, "
                         "`judge` or `train …`, or a folder holding them")
    stamps = read_stamps(run_path) if run_path.is_dir() else []
    sections = [pipeline_section(run_path, stamps)] if stamps else []
    builders, single = _builders(), outputs == [(outputs[0][0], run_path)]
    for i, (kind, path) in enumerate(_ordered(outputs, stamps)):
        try:
            sections.append(builders[kind](path, max_rows, section_id=f"s{i}-{kind}"))
        except CurateError as err:
            if single:
                raise
            sections.append(Section("error", f"Could not read {path.name}", note(str(err)), str(path)))
    return sections


def run(config: ReportConfig) -> dict:
    """Write the report page; returns {out, sections: [{kind, title, source}], bytes}."""
    out = check_output(config.target, "file", overwrite=config.overwrite)
    sections = build_sections(Path(config.run), config.max_rows)
    title = config.title or f"safecurate report: {config.run}"
    subtitle = f"{len(sections)} section(s) from {config.run}, written {time.strftime('%Y-%m-%d %H:%M:%S')}"
    html = page(title, subtitle, sections)
    atomic_write_text(out, html)
    return {"out": str(out), "bytes": len(html.encode("utf-8")),
            "sections": [{"kind": s.kind, "title": s.title, "source": s.source} for s in sections]}
