"""One self-contained HTML page for any pipeline output (`curate report RUN --out report.html`).

It reads what every stage writes (weighted corpora, exports, embeddings, dictionaries, evaluations, judged
answers, trainer folders, a `curate run` folder of them) and sits on the evaluation floor beside curate.evaluation.
Names load on first use, so `curate report --help` imports no plotting or table library.
"""

from curate.lazy import lazy_exports

__all__ = ["ReportConfig", "run", "build_sections", "detect_kind", "find_outputs", "STAMP_SUFFIX", "stamp_path"]

lazy_exports(__name__, {
    "curate.report.config": ["ReportConfig"],
    "curate.report.build": ["run", "build_sections"],
    "curate.report.detect": ["detect_kind", "find_outputs"],
    "curate.report.pipeline": ["STAMP_SUFFIX", "stamp_path"],
})
