"""The report page in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/install-system-data)
loads it from file://, runs its script without errors, shows every section, filters rows, and takes a screenshot.

The screenshots are written to $SAFECURATE_ARTIFACTS when set (CI keeps them), else to the test's temporary
folder; each path is printed (pytest -rP shows it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from curate.report import ReportConfig, run
from curate.report.html import Section, page
from tests.test_report import make_corpus, make_run_folder, make_sae

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: .ci/install-system-data installs "
                                                         "it (apt-get install chromium); CI always has it")


BUDGET = "--virtual-time-budget=10000"
"""Let the page settle (load event, image decoding) before the DOM is dumped."""


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """One headless Chromium run with no network services, a throw-away profile and console logging to stderr."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0", *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def error_count(dom: str) -> int:
    """The count the page's error hook keeps on <html data-js-errors>, 0 when it recorded none."""
    found = re.search(r'<html[^>]*\sdata-js-errors="(\d+)"', dom)
    return int(found.group(1)) if found else 0


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console (Chromium logs it as `INFO:CONSOLE:line] "message", source: …`)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def artifact(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("SAFECURATE_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_the_error_checks_catch_a_broken_script(tmp_path):
    broken = Section("corpus", "broken", "<script>undefinedFunction();</script>")
    path = tmp_path / "broken.html"
    path.write_text(page("broken", "", [broken]))
    done = chromium(tmp_path, path.as_uri(), "--dump-dom")
    assert error_count(done.stdout) == 1 and "undefinedFunction is not defined (line" in done.stdout
    assert any("undefinedFunction" in line for line in console_messages(done.stderr))


def test_run_folder_report_loads_filters_and_screenshots(tmp_path):
    root = make_run_folder(tmp_path / "run")
    make_sae(root / "sae")
    url = Path(run(ReportConfig(root))["out"]).as_uri()
    done = chromium(tmp_path, url, "--dump-dom", BUDGET)
    dom = done.stdout
    assert 'data-ready="1"' in dom and 'data-loaded="1"' in dom and 'data-broken-images="0"' in dom
    assert error_count(dom) == 0 and not console_messages(done.stderr)
    kinds = re.findall(r'class="report-section" data-kind="([a-z]+)"', dom)
    assert kinds == ["dictionary", "evaluation", "trainer", "trainer", "corpus"]
    assert len(re.findall(r"<img class=\"plot\"", dom)) >= 9
    assert dom.count('class="table-search"') == 3  # concepts, answers, corpus rows
    # the filter box, driven through the address: only the matching concept row stays visible
    filtered = chromium(tmp_path, url + "#filter=weapon", "--dump-dom", BUDGET).stdout
    concepts = re.search(r'<table id="s0-dictionary-concepts".*?<tbody>(.*?)</tbody>', filtered, re.S).group(1)
    visible = [row for row in re.findall(r"<tr( hidden=\"\")?>", concepts) if not row]
    assert len(visible) == 1 and re.search(r'id="s0-dictionary-concepts-count">1 of 40 rows<', filtered)
    shot = artifact(tmp_path, "report-run-folder.png")
    chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars")
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


def test_corpus_report_screenshot(tmp_path):
    corpus = make_corpus(tmp_path / "weighted.parquet", n=2000)
    url = Path(run(ReportConfig(corpus))["out"]).as_uri()
    done = chromium(tmp_path, url, "--dump-dom", BUDGET)
    assert 'data-ready="1"' in done.stdout and 'data-broken-images="0"' in done.stdout
    assert error_count(done.stdout) == 0
    assert not console_messages(done.stderr)
    shot = artifact(tmp_path, "report-corpus.png")
    chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars")
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
