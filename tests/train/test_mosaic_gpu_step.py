"""bench.gpu._mosaic_step: the MOSAIC step timer of bench/gpu/check.sh, on a 2-layer, 64-wide SmolLM2-shaped model."""

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from bench.gpu import _mosaic_step as step  # noqa: E402

TINY = ["--layers", "2", "--hidden", "64", "--batch-size", "4", "--max-length", "24", "--repeats", "1"]


def _check_runs(report: dict, device: str) -> None:
    runs = [r for r in report["runs"] if r["device"] == device]
    assert [r["dtype"] for r in runs] == ["fp32", "bf16"]
    for run in runs:
        assert run["seconds_per_step"] > 0 and run["repeats"] == 1
        assert math.isfinite(run["loss"]) and math.isfinite(run["kl"]) and run["kl"] >= 0
        assert run["minutes_for_steps"] == round(report["steps"] * run["seconds_per_step"] / 60, 2)
    # the same random model, tokens and batch: bf16 weights move the loss a little, not a lot
    assert runs[0]["loss"] == pytest.approx(runs[1]["loss"], rel=0.02)


def test_cpu_report_fields_and_finite_loss(tmp_path):
    out = tmp_path / "mosaic_step.json"
    report = step.main([*TINY, "--devices", "cpu", "--steps", "100", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["shape"] == {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 1,
                               "num_key_value_heads": 1, "vocab_size": 49152}
    assert report["batch"] == {"rows": 4, "width": 24, "positives": 2, "control_tokens": 15}
    assert report["torch"] == torch.__version__ and report["threads"] == 1
    assert report["speedup_cuda_over_cpu"] is None  # no CUDA run asked for
    _check_runs(report, "cpu")


def test_cpu_only_says_so_without_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = step.main([*TINY, "--dtypes", "fp32", "--out", str(tmp_path / "s.json")])
    assert report["note"] == "CUDA is absent here: CPU only" and report["cuda"] is None
    assert [r["device"] for r in report["runs"]] == ["cpu"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_against_cpu(tmp_path):
    report = step.main([*TINY, "--out", str(tmp_path / "s.json")])
    _check_runs(report, "cuda")
    assert set(report["speedup_cuda_over_cpu"]) == {"fp32", "bf16", "best_vs_best"}
    assert report["cuda"] == torch.version.cuda and report["runs"][0]["peak_memory_mib"] > 0
    cpu, cuda = (next(r["loss"] for r in report["runs"] if r["device"] == d and r["dtype"] == "fp32")
                 for d in ("cpu", "cuda"))
    assert cuda == pytest.approx(cpu, rel=1e-3)


def test_precomputed_teacher_gives_the_per_step_teacher_loss():
    from transformers import LlamaConfig, LlamaForCausalLM

    from train.mosaic.loss import mosaic_batch_loss

    config, _ = step.model_config(layers=2, hidden=64)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**config)).eval().requires_grad_(False)
    ids, mask, labels, negative = batch = step.synthetic_batch(config["vocab_size"], config["pad_token_id"], 6, 20)
    assert ids.shape == (6, 20) and mask[0].all() and negative.tolist() == [False] * 3 + [True] * 3
    assert ((labels != -100) <= mask.bool()).all() and (labels[:3] != -100).sum(1).tolist() == [10] * 3
    prefix = torch.randn(6, 15, 64) * 0.02
    with_cache, _ = mosaic_batch_loss(model, prefix, *batch, 1.0, teacher=step._teacher(model, *batch))
    per_step, _ = mosaic_batch_loss(model, prefix, *batch, 1.0, teacher=None)
    assert float(with_cache) == pytest.approx(float(per_step), rel=1e-5)


def test_written_config_matches_the_local_model():
    path = step.local_config_path()
    if path is None:
        pytest.skip("smollm2-135m is not converted here")
    local = json.loads(path.read_text())
    written = dict(step.SMOLLM2_135M)
    assert local["rms_norm_eps"] == pytest.approx(written.pop("rms_norm_eps"))
    assert {k: local[k] for k in written} == written
    assert step.model_config()[1] == str(path)
