"""`curate report`: kind detection, one section per output, escaped text, row caps, and a whole run folder.

The outputs are small copies of what each stage writes, made with the stages' own summary functions where they
exist (set_summary, nll_summary, save_config), so a change of a stage's format shows up here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.errors import ConfigError, InputError
from curate.report import ReportConfig, detect_kind, find_outputs, run
from curate.report.html import Value, cell, table

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'
"""Text that would run or render as markup if the page did not escape it."""


def make_corpus(path: Path, n: int = 300, seed: int = 0) -> Path:
    """A `curate sot-weight` output: rows, weights (harmful rows lower), potentials, keep, and OUT.json."""
    rng = np.random.default_rng(seed)
    harmful = np.arange(n) < n // 20
    weights = np.exp(rng.normal(0, 0.3, n) - 2.5 * harmful)
    weights *= n / weights.sum()
    keep = np.zeros(n, dtype=bool)
    keep[np.argsort(-weights)[: int(0.9 * n)]] = True
    categories = np.where(harmful, "dialogue", rng.choice(["food", "animal", "command"], n))
    table = pa.table({
        "id": [f"row-{i:04d}" for i in range(n)],
        "prompt": [HOSTILE if i == 0 else f"What is thing {i}?" for i in range(n)],
        "response": [f"Thing {i} is {'dangerous' if h else 'fine'}." for i, h in enumerate(harmful)],
        "category": categories.tolist(), "source": np.where(harmful, "pyrit", "wordnet").tolist(),
        "is_harmful": harmful.tolist(), "sot_weight": weights, "keep": keep.tolist(),
        "pull_potential": -np.log(weights) + rng.normal(0, .1, n),
        "push_potential": np.log(weights) + rng.normal(0, .1, n),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    sidecar = {"method": "sot", "features": "pair", "eps": 0.05, "beta": 1.0, "tau": 0.1, "converged": True,
               "outer_iterations": 6, "objective": [0.9, 0.7, 0.61, 0.6, 0.598, 0.5979],
               "summary": {"rows": n, "kept": int(keep.sum())}, "_config": "SOTConfig"}
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def make_dictionary(folder: Path, k: int = 40) -> Path:
    """A `curate build-dictionary` folder: concepts, stimuli, manifest and the picture."""
    from concepts._plot import plot_dictionary

    folder.mkdir(parents=True, exist_ok=True)
    labels = ["undesirable" if i < 5 else "desirable" if i < 10 else "neutral" for i in range(k)]
    names = ["weapon" if i == 0 else f"concept{i}" for i in range(k)]
    concepts = pa.table({
        "concept_id": [f"c{i:03d}" for i in range(k)], "name": names, "synset": [f"{n}.n.01" for n in names],
        "gloss": [HOSTILE if i == 0 else f"gloss of {n}" for i, n in enumerate(names)],
        "group": ["artifact"] * k, "label": labels, "n_pos": [8] * k, "n_neg": [8] * k, "layer": [15] * k,
    })
    pq.write_table(concepts, folder / "concepts.parquet")
    stimuli = pa.table({
        "concept_id": [f"c{i:03d}" for i in range(k) for _ in range(4)],
        "stimulus_id": [f"s{i}-{j}" for i in range(k) for j in range(4)], "modality": ["text"] * 4 * k,
        "score": [float(j) for _ in range(k) for j in range(4)], "role": ["pos", "pos", "neg", "neg"] * k,
        "text": [f"stimulus {j} of {names[i]}" for i in range(k) for j in range(4)],
    })
    pq.write_table(stimuli, folder / "stimuli.parquet")
    manifest = {"model": "tiny", "n_concepts": k, "layers": [15], "dim": 16, "vocabulary": k + 3,
                "labels": {"undesirable": 5, "desirable": 5, "neutral": k - 10}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    directions = np.random.default_rng(0).normal(size=(k, 16))
    plot_dictionary(directions, labels, names, folder / "dictionary.png", "test dictionary")
    return folder


def make_evaluation(folder: Path) -> Path:
    """A `curate eval` folder: results.parquet with verdicts, nll.parquet and summary.json as run() writes them."""
    from curate.evaluation.metrics import nll_summary, set_summary

    folder.mkdir(parents=True, exist_ok=True)
    verdicts = {"harmful": ["refusal"] * 14 + ["compliance"] * 4 + ["degenerate"] * 2,
                "benign": ["compliance"] * 16 + ["refusal"] * 3 + ["degenerate"]}
    columns: dict[str, list] = {k: [] for k in ("id", "set", "prompt", "category", "response", "verdict",
                                                "score_refusal", "refused", "judge_score")}
    summary: dict = {"model": "tiny-model", "device": "cpu", "judge": {"kind": "rules", "file": "judge.json"}}
    for kind, values in verdicts.items():
        rows = {"id": [f"{kind}-{i}" for i in range(20)], "set": [kind] * 20,
                "prompt": [HOSTILE if i == 0 else f"{kind} prompt {i}" for i in range(20)],
                "category": ["a" if i % 2 else "b" for i in range(20)],
                "response": [f"answer {i} ({v})" for i, v in enumerate(values)], "verdict": values,
                "score_refusal": [0.9 if v == "refusal" else 0.1 for v in values],
                "refused": [v == "refusal" for v in values], "judge_score": [0.5] * 20}
        for key in columns:
            columns[key] += rows[key]
        summary[kind] = set_summary(rows)
    pq.write_table(pa.table(columns), folder / "results.parquet")
    nll = np.random.default_rng(0).uniform(1, 3, 30)
    pq.write_table(pa.table({"id": [f"n{i}" for i in range(30)], "category": ["a", "b", "c"] * 10,
                             "nll": nll}), folder / "nll.parquet")
    summary["nll"] = nll_summary(nll)
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def make_trainer(folder: Path, steps: int = 40) -> Path:
    """A `curate train sft` folder: metrics.json with the loss trace and the resolved sft_config.json."""
    from curate.config import save_config
    from train.sft.config import SFTConfig

    folder.mkdir(parents=True, exist_ok=True)
    trace = (2.5 * np.exp(-np.arange(steps) / 15) + 0.5).tolist()
    metrics = {"steps": steps, "examples": 300, "tokens": 12345, "loss_trace": trace, "final_loss": trace[-1],
               "seconds": 12.5, "trainable_params": 1000, "model": "tiny", "data": "weighted.parquet"}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    save_config(SFTConfig(data="weighted.parquet", out=folder, lr=1e-4, warmup_steps=5), folder / "sft_config.json")
    return folder


def make_sae(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    history = [{"step": s, "loss": 1 / s, "fvu": 0.5 / s, "l0": 32.0, "dead_pct": 0.0} for s in range(1, 21)]
    metrics = {"steps": 20, "arch": "topk", "final": {"loss": 0.05, "fvu": 0.025, "l0": 32.0, "dead_pct": 0.0},
               "history": history}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "sae_config.json").write_text(json.dumps({"steps": 20, "k": 32, "_config": "SAEConfig"}))
    return folder


def make_run_folder(root: Path) -> Path:
    """Everything at once, laid out as a `curate run` folder (without stamps)."""
    make_corpus(root / "weighted.parquet")
    make_dictionary(root / "dictionary")
    make_evaluation(root / "eval")
    make_trainer(root / "sft")
    return root


def sections(html: str) -> list[str]:
    return re.findall(r'<section id="section-\d+" class="report-section" data-kind="([a-z]+)"', html)


def test_detects_each_kind_and_searches_folders(tmp_path):
    root = make_run_folder(tmp_path / "run")
    make_sae(root / "sae")
    assert detect_kind(root / "weighted.parquet") == "corpus"
    assert detect_kind(root / "dictionary") == "dictionary"
    assert detect_kind(root / "eval") == "evaluation"
    assert detect_kind(root / "sft") == detect_kind(root / "sae") == "trainer"
    assert detect_kind(root / "weighted.json") is None and detect_kind(root) is None
    assert [k for k, _ in find_outputs(root)] == ["dictionary", "evaluation", "trainer", "trainer", "corpus"]


def test_corpus_report_escapes_text_and_caps_rows(tmp_path):
    corpus = make_corpus(tmp_path / "weighted.parquet")
    summary = run(ReportConfig(corpus, max_rows=100))
    html = Path(summary["out"]).read_text()
    assert summary["out"] == str(tmp_path / "weighted.parquet.report.html")
    assert sections(html) == ["corpus"]
    assert HOSTILE not in html and html.count("<script>") == 2  # the page's own two scripts, nothing from the data
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Showing 100 of 300 rows" in html
    rows = re.search(r'<table id="s0-corpus-rows".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    assert rows.count("<tr>") == 100
    lowest = re.search(r'<table id="s0-corpus-lowest".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    assert lowest.count("<tr>") == 50 and lowest.count(">dialogue<") == 15  # all 15 harmful rows weigh least
    assert "AUROC (−weight vs is_harmful)" in html and "Weight by category" in html
    assert html.count('src="data:image/png;base64,') == 3  # histogram, potentials, objective trace
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_auroc_matches_the_sot_summary(tmp_path):
    from curate.report.corpus import weight_quality
    from transport._report import quality

    rng = np.random.default_rng(3)
    weights, harmful = rng.uniform(0, 2, 200), rng.uniform(size=200) < 0.1
    ours, theirs = weight_quality(weights, harmful), quality(weights, harmful)
    assert ours["AUROC (−weight vs is_harmful)"] == pytest.approx(theirs["auroc"])
    assert ours["precision at the harmful rate"] == pytest.approx(theirs["precision_at_rate"])


def test_dictionary_evaluation_and_trainer_sections(tmp_path):
    root = make_run_folder(tmp_path / "run")
    html = Path(run(ReportConfig(root))["out"]).read_text()
    assert sections(html) == ["dictionary", "evaluation", "trainer", "corpus"]
    assert HOSTILE not in html
    # dictionary: undesirable concepts first, stimuli listed, the picture embedded
    concepts = re.search(r'<table id="s0-dictionary-concepts".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    assert re.findall(r"<tr><td>(c\d+)</td>", concepts)[:5] == ["c000", "c001", "c002", "c003", "c004"]
    assert "stimulus 0 of weapon" in html and 'alt="concept directions' in html
    # evaluation: every rate with its interval, per category, examples per verdict
    assert "70.0% [48.1, 85.5] (14/20)" in html  # DSR 14/20 with its Wilson interval
    assert "harmful prompts, verdict compliance: 4 of 20 answers" in html
    assert "Per category: harmful prompts" in html and "Benign reference NLL per category" in html
    # trainer: loss and learning-rate curves, settings
    assert 'alt="Training loss per optimiser step"' in html and 'alt="Learning rate"' in html
    assert ">warmup_steps</th><td>5</td>" in html


def test_sae_history_curves(tmp_path):
    html = Path(run(ReportConfig(make_sae(tmp_path / "sae")))["out"]).read_text()
    assert all(f'alt="{name}"' in html for name in ("loss", "fvu", "l0", "dead_pct"))
    assert ">final.fvu</th><td>0.025</td>" in html


def test_broken_output_in_a_folder_becomes_an_error_section(tmp_path):
    root = make_run_folder(tmp_path / "run")
    (root / "eval" / "summary.json").write_text("{not json")
    html = Path(run(ReportConfig(root))["out"]).read_text()
    assert "error" in sections(html) and "not a readable JSON file" in html
    with pytest.raises(InputError, match="summary.json: not a readable JSON file"):
        run(ReportConfig(root / "eval", out=tmp_path / "eval.html"))


def test_cell_formats_and_table_sort_keys():
    assert cell(0.123456) == ("0.1235", "0.123456") and cell(True) == ("true", "1") and cell(None) == ("", None)
    assert cell(Value("84.9% [80.6, 88.4]", 0.849)) == ("84.9% [80.6, 88.4]", "0.849")
    assert cell("x" * 700)[0].endswith("…") and len(cell("x" * 700)[0]) == 600
    html = table(["a"], [[2.5]], table_id="t")
    assert '<td data-value="2.5" class="num">2.5</td>' in html


def test_cli_errors_name_the_fix(tmp_path):
    with pytest.raises(InputError, match="found no pipeline output"):
        run(ReportConfig(tmp_path))
    with pytest.raises(InputError, match="does not exist"):
        run(ReportConfig(tmp_path / "missing", out=tmp_path / "r.html"))
    with pytest.raises(ConfigError, match="name an .html file"):
        ReportConfig(tmp_path, out=tmp_path / "report.txt")
    corpus = make_corpus(tmp_path / "w.parquet")
    main(["report", str(corpus), "--out", str(tmp_path / "r.html")])
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        run(ReportConfig(corpus, out=tmp_path / "r.html"))
    main(["report", str(corpus), "--out", str(tmp_path / "r.html"), "--overwrite", "--title", "Mine"])
    assert "<title>Mine</title>" in (tmp_path / "r.html").read_text()
