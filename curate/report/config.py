"""`ReportConfig`: which output to show and where the page goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.config import StageConfig
from curate.errors import ConfigError

__all__ = ["ReportConfig"]


@dataclass(frozen=True)
class ReportConfig(StageConfig):
    run: Path
    """An output of any stage (a weighted Parquet or export file; an embedding, dictionary, eval or trainer folder;
    a `curate judge` Parquet) or a folder holding several, as `curate run` leaves them."""
    out: Path | None = None
    """The HTML file to write (default: RUN/report.html for a folder, RUN.report.html beside a file)."""
    max_rows: int = 1000
    """Rows of each searchable table written into the page; the page says how many were left out."""
    title: str | None = None
    """Page title (default: "safecurate report: RUN")."""

    unused_fields = ("device", "progress", "seed", "threads")  # reads files and draws plots, nothing else
    field_help = {"overwrite": "Replace an existing report file."}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_rows < 1:
            raise ConfigError(f"--max-rows {self.max_rows}: must be >= 1")
        if self.out is not None and Path(self.out).suffix.lower() not in (".html", ".htm"):
            raise ConfigError(f"--out {self.out}: name an .html file, e.g. --out report.html")

    @property
    def target(self) -> Path:
        """The file the page is written to."""
        if self.out is not None:
            return Path(self.out)
        run = Path(self.run)
        return run / "report.html" if run.is_dir() else run.with_name(run.name + ".report.html")
