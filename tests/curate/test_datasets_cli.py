"""`curate datasets` CLI, export round trip, roff parser, missing sources."""

import json

import pytest
from click.testing import CliRunner

from curate.commands.datasets import datasets
from curate.datasets import DatasetBuildConfig
from curate.datasets.manpages import parse_man_page
from curate.errors import ConfigError, MissingDependencyError


def test_build_round_trip(tmp_path):
    polars = pytest.importorskip("polars")
    out = tmp_path / "anchor.parquet"
    result = CliRunner().invoke(datasets, ["build", "safe-anchor", "--out", str(out), "--split", "train"])
    assert result.exit_code == 0, result.output
    frame = polars.read_parquet(out)
    assert frame.height > 2000 and set(frame["kind"].unique()) == {"refusal", "benign"}
    sidecar = json.loads((tmp_path / "anchor.licences.json").read_text())
    assert sidecar["rows"] == frame.height and any("MIT" in x for x in sidecar["licences"])
    import pyarrow.parquet as pq

    assert b"Apache-2.0" in pq.read_schema(out).metadata[b"safecurate.licences"]


def test_list_command():
    result = CliRunner().invoke(datasets, ["list"])
    assert result.exit_code == 0 and "contaminated-sft" in result.output and "5.00%" in result.output


def test_bad_configs(tmp_path):
    with pytest.raises(ConfigError, match="'nope' is not a dataset; valid names"):
        DatasetBuildConfig(name="nope", out=tmp_path / "x.parquet")
    with pytest.raises(ConfigError, match="must end in .parquet"):
        DatasetBuildConfig(name="refusals", out=tmp_path / "x.csv")
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(ConfigError, match="pass --overwrite"):
        DatasetBuildConfig(name="refusals", out=tmp_path / "x.parquet")


def test_missing_wordnet(monkeypatch, tmp_path):
    from curate.datasets.wordnet import wordnet_dir

    monkeypatch.setenv("WORDNET_DIR", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="apt-get install wordnet-base"):
        wordnet_dir()


def test_missing_package():
    from curate.datasets._sources import package_file

    with pytest.raises(MissingDependencyError, match="pip install --no-deps no-such-pkg"):
        package_file("no-such-pkg", "x")


def test_roff_parser():
    source = (
        '.\\" comment\n.TH TAR 1\n.SH NAME\ntar \\- an archiving utility\n.SH SYNOPSIS\n.B tar\n'
        ".SH DESCRIPTION\n\\fBGNU tar\\fR is an archiving program designed to store files.\n"
        "It can \\fIalso\\fR extract them. A third sentence here.\n.PP\nMore.\n"
    )
    page = parse_man_page(source)
    assert page == {"command": "tar", "summary": "an archiving utility",
                    "description": "GNU tar is an archiving program designed to store files. It can also extract them."}
    assert parse_man_page(".so man1/other.1\n") is None
