from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner

from curate.config import (
    SHARED_FIELDS,
    StageConfig,
    config_options,
    config_to_dict,
    field_docs,
    load_config,
    save_config,
)
from curate.device import apply_threads
from curate.errors import ConfigError
from embed.config import EmbedSettings
from transport.config import SOTConfig


@dataclass(frozen=True)
class DemoConfig:
    inputs: tuple[str, ...]
    """Input files."""
    out: Path
    """Where the result goes."""
    method: Literal["a", "b"] = "a"
    """Which method."""
    beta: float = 0.5
    """Push strength."""
    verbose: bool = False
    """Say more."""
    note: str | None = None

    def __post_init__(self):
        if self.beta < 0:
            raise ConfigError(f"--beta {self.beta}: must be ≥ 0")


def test_field_docs_reads_docstrings_under_fields():
    docs = field_docs(DemoConfig)
    assert docs["out"] == "Where the result goes."
    assert docs["beta"] == "Push strength."
    assert "note" not in docs


def test_config_options_builds_cli_that_builds_config(tmp_path):
    import click

    seen = {}

    @click.command()
    @config_options(DemoConfig, arguments=("inputs",))
    def cmd(**kwargs):
        seen["config"] = DemoConfig(**kwargs)

    result = CliRunner().invoke(cmd, ["x.jsonl", "y.jsonl", "--out", str(tmp_path), "--method", "b", "--verbose"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.inputs == ("x.jsonl", "y.jsonl") and config.method == "b" and config.verbose
    assert isinstance(config.out, Path)
    help_text = CliRunner().invoke(cmd, ["--help"]).output
    assert "Push strength." in help_text
    bad = CliRunner().invoke(cmd, ["x", "--out", "o", "--method", "c"])
    assert bad.exit_code != 0 and "'c' is not one of" in bad.output


def test_save_load_round_trip_ignores_unknown_fields(tmp_path):
    config = DemoConfig(inputs=("a",), out=tmp_path / "o", method="b", beta=1.5)
    save_config(config, tmp_path / "config.json", elapsed=1.0)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["field_from_the_future"] = 3
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert load_config(DemoConfig, tmp_path / "config.json") == config


def test_post_init_error_names_option():
    with pytest.raises(ConfigError, match="--beta -1"):
        DemoConfig(inputs=(), out=Path("o"), beta=-1)


# --- the shared base config, nested configs, tolerant loading -------------------------------------------------


@dataclass(frozen=True)
class DemoStageConfig(StageConfig):
    out: Path
    """Where the result goes."""
    alpha: float = 1.0
    """A stage option."""

    unused_fields = ("seed",)
    field_help = {"overwrite": "Replace a finished demo."}


@dataclass(frozen=True)
class DemoInner:
    model: str = "minilm"
    """Which model."""
    batch_size: int = 4
    """Rows per batch."""


@dataclass(frozen=True)
class DemoNestedConfig(StageConfig):
    out: Path
    """Where the result goes."""
    inner: DemoInner = field(default_factory=DemoInner)
    """The inner settings."""


def _command(cls, seen: dict):
    import click

    @click.command()
    @config_options(cls)
    def cmd(**kwargs):
        seen["config"] = cls(**kwargs)

    return cmd


def test_inherited_fields_appear_in_subclass_help_after_its_own():
    help_text = CliRunner().invoke(_command(DemoStageConfig, {}), ["--help"]).output
    for flag in ("--device", "--overwrite / --no-overwrite", "--progress / --no-progress", "--threads"):
        assert flag in help_text
    assert "Replace a finished demo." in help_text and "CPU threads for torch and BLAS" in help_text
    assert "--seed" not in help_text  # unused by this stage: no flag
    assert help_text.index("--alpha") < help_text.index("--device")
    assert field_docs(DemoStageConfig)["device"].startswith("auto (CUDA if present")


def test_shared_fields_parse_and_validate(tmp_path):
    seen = {}
    args = ["--out", str(tmp_path), "--device", "cpu", "--no-progress", "--threads", "2", "--overwrite"]
    result = CliRunner().invoke(_command(DemoStageConfig, seen), args)
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.device, config.progress, config.threads, config.overwrite) == ("cpu", False, 2, True)
    assert DemoStageConfig(out=tmp_path, threads=0).threads is None  # 0 = the libraries' default, as MOSAIC had it
    with pytest.raises(ConfigError, match="--threads -1"):
        DemoStageConfig(out=tmp_path, threads=-1)
    with pytest.raises(ConfigError, match="--device 'gpu'"):
        DemoStageConfig(out=tmp_path, device="gpu")
    with pytest.raises(ConfigError, match="DemoStageConfig has no use for seed=3"):
        DemoStageConfig(out=tmp_path, seed=3)
    assert "seed" not in config_to_dict(config)


def test_nested_config_flattens_to_flags_and_round_trips(tmp_path):
    seen = {}
    cmd = _command(DemoNestedConfig, seen)
    help_text = CliRunner().invoke(cmd, ["--help"]).output
    assert "--model" in help_text and "--batch-size" in help_text and "Rows per batch." in help_text
    assert "--inner" not in help_text
    result = CliRunner().invoke(cmd, ["--out", str(tmp_path), "--model", "smollm2-135m", "--batch-size", "9"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.inner == DemoInner(model="smollm2-135m", batch_size=9)
    save_config(config, tmp_path / "c.json")
    raw = json.loads((tmp_path / "c.json").read_text())
    assert raw["inner"]["batch_size"] == 9 and "batch_size" not in raw
    assert load_config(DemoNestedConfig, tmp_path / "c.json") == config


def test_nested_flag_that_clashes_with_a_field_is_refused():
    @dataclass(frozen=True)
    class Clash(StageConfig):
        model: str = "a"
        inner: DemoInner = field(default_factory=DemoInner)

    with pytest.raises(TypeError, match="'model'"):
        config_options(Clash)


def test_sot_flags_build_the_nested_embed_settings(tmp_path):
    seen = {}
    args = ["--out", str(tmp_path / "w.parquet"), "--model", "smollm2-135m", "--encoder", "lm", "--layer", "3",
            "--batch-size", "8", "--seed", "2", "--threads", "1"]
    result = CliRunner().invoke(_command(SOTConfig, seen), args)
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.embed == EmbedSettings(model="smollm2-135m", encoder="lm", layer=3, batch_size=8)
    assert (config.seed, config.threads) == (2, 1)
    job = config.embed.embed_config(("a.jsonl",), tmp_path / "e", template="{response}", device="cpu")
    assert (job.model, job.encoder, job.layer, job.batch_size, job.template, job.device) == (
        "smollm2-135m", "lm", 3, 8, "{response}", "cpu")
    save_config(config, tmp_path / "w.json", summary={"rows": 1})
    assert load_config(SOTConfig, tmp_path / "w.json") == config


def test_old_flat_sot_config_still_loads(tmp_path):
    old = {"out": str(tmp_path / "w.parquet"), "data": "corpus.jsonl", "model": "smollm2-135m", "encoder": "lm",
           "layer": 5, "features": "joint", "batch_size": 16, "device": "cpu", "seed": 7, "progress": False,
           "overwrite": True, "summary": {"rows": 10}, "_config": "SOTConfig"}
    (tmp_path / "w.json").write_text(json.dumps(old))
    config = load_config(SOTConfig, tmp_path / "w.json")
    assert config.embed == EmbedSettings(model="smollm2-135m", encoder="lm", layer=5, batch_size=16)
    assert (config.data, config.features, config.device, config.seed, config.progress, config.overwrite) == (
        "corpus.jsonl", "joint", "cpu", 7, False, True)
    assert config.out == tmp_path / "w.parquet" and config.threads is None


def _stage_configs() -> list[type]:
    """Every stage config class, found by walking StageConfig's subclasses once all stage modules are imported."""
    import importlib

    for module in ("embed.config", "transport.config", "transport.export", "curate.evaluation.config",
                   "curate.datasets.build", "concepts.config", "curate.commands.steer", "curate.commands.generate",
                   "train.cast.diagnose", "train.cast.run", "train.sae.run", "train.mosaic.run", "train.sft.config"):
        importlib.import_module(module)
    found, todo = [], list(StageConfig.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if not cls.__module__.startswith("tests."):
            found.append(cls)
    return found


def test_no_stage_config_redeclares_a_shared_field():
    configs = _stage_configs()
    names = {cls.__name__ for cls in configs}
    assert {"EmbedConfig", "SOTConfig", "ExportConfig", "EvalConfig", "DatasetBuildConfig", "BuildConfig",
            "SteerConfig", "GenerateConfig", "DiagnoseConfig", "CastConfig", "SAEConfig", "MosaicConfig",
            "SFTConfig"} <= names
    for cls in configs:
        for klass in cls.__mro__[: cls.__mro__.index(StageConfig)]:
            again = set(vars(klass).get("__annotations__", {})) & set(SHARED_FIELDS)
            assert not again, f"{klass.__qualname__} re-declares {sorted(again)}; inherit them from StageConfig"
        assert set(cls.unused_fields) <= set(SHARED_FIELDS), cls
        assert set(cls.field_help) <= {f.name for f in dataclasses.fields(cls)}, cls


def test_every_stage_command_offers_threads_and_no_progress():
    import click

    no_compute = {"ReportConfig": "renders a finished run's files as one HTML page (tests/test_consistency.py)"}
    for cls in _stage_configs():
        if cls.__name__ in no_compute:
            continue
        cmd = click.command()(config_options(cls)(lambda **kw: None))
        opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        assert {"--threads", "--no-progress"} <= opts, cls.__name__


def test_apply_threads_sets_torch_threads_and_leaves_defaults_alone():
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    try:
        with threadpool_limits(limits=None):  # restores the BLAS pools' counts on exit
            apply_threads(DemoStageConfig(out=Path("o")))
            assert torch.get_num_threads() == before
            apply_threads(DemoStageConfig(out=Path("o"), threads=1))
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
