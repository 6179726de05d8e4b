"""Checkpoints are safetensors + JSON: a pickle planted in an output folder is never unpickled, resume is exact,
and an SFT checkpoint holds only the trainable parameters and their optimiser state."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from curate.errors import InputError
from tests.train.sae_fixtures import planted_activations, planted_atoms, write_activation_folder
from train._common import STATE_FILE, TENSORS_FILE, CheckpointWarning, load_checkpoint, make_optimizer, save_checkpoint
from train.sae import SAEConfig, run
from train.sae import fit as sae_fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _CreatesFile:
    """Unpickling this creates `marker`: what a planted checkpoint could do with any other call."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _payload(marker: Path) -> bytes:
    data = pickle.dumps({"sae": _CreatesFile(marker), "step": 1})
    control = marker.with_name("control")
    pickle.loads(pickle.dumps(_CreatesFile(control))).close()
    assert control.exists(), "the payload must work when unpickled, else the tests below prove nothing"
    return data


@pytest.fixture(scope="module")
def activations(tmp_path_factory):
    folder = tmp_path_factory.mktemp("acts")
    return write_activation_folder(folder / "acts", planted_activations(planted_atoms(16, 8), 1200, active=2))


def _sae_config(activations: Path, out: Path, **kw) -> SAEConfig:
    base = dict(activations=activations, out=out, k=2, expansion=2, steps=12, batch_size=64, buffer_rows=256,
                skip_first_token=False, lr=1e-2, warmup_steps=2, checkpoint_every=5, progress=False)
    return SAEConfig(**{**base, **kw})


def test_a_planted_legacy_pickle_is_ignored_with_a_warning(activations, tmp_path):
    out = tmp_path / "sae"
    out.mkdir()
    marker = tmp_path / "pwned"
    (out / sae_fit.LEGACY_CHECKPOINT_NAME).write_bytes(_payload(marker))
    with pytest.warns(CheckpointWarning, match="checkpoint.pt: a pickle checkpoint .* ignored, not loaded"):
        summary = run(_sae_config(activations, out))
    assert not marker.exists()
    assert summary["resumed_from_step"] == 0 and len(json.loads((out / "metrics.json").read_text())["history"]) == 12


def test_a_pickle_planted_as_the_safetensors_checkpoint_is_refused(activations, tmp_path):
    out = tmp_path / "sae"
    checkpoint = out / sae_fit.CHECKPOINT_NAME
    checkpoint.mkdir(parents=True)
    marker = tmp_path / "pwned"
    (checkpoint / TENSORS_FILE).write_bytes(_payload(marker))
    (checkpoint / STATE_FILE).write_text(json.dumps({"step": 5, "history": []}))
    with pytest.raises(InputError, match=r"tensors.safetensors: not a readable safetensors file .*delete .* step 0"):
        run(_sae_config(activations, out))
    assert not marker.exists()


def test_sft_checkpoint_ignores_pickles_and_refuses_a_planted_tensor_file(tiny_llama, tmp_path):
    optimizer = make_optimizer(list(tiny_llama.parameters()), 1e-3, 0.0)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    marker = tmp_path / "pwned"
    for name in ("trainable.pt", "optimizer.pt", "rng.pt"):
        (legacy / name).write_bytes(_payload(marker))
    with pytest.warns(CheckpointWarning, match="trainable.pt: a pickle checkpoint"):
        assert load_checkpoint(legacy, tiny_llama, optimizer) is None
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / TENSORS_FILE).write_bytes(_payload(marker))
    (planted / STATE_FILE).write_text("{}")
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_checkpoint(planted, tiny_llama, optimizer)
    assert not marker.exists()


def test_sft_checkpoint_holds_only_trainable_state_and_restores_it(tiny_llama, tmp_path):
    from safetensors import safe_open

    for name, p in tiny_llama.named_parameters():
        p.requires_grad_("layers.1." in name)
    trainable = [p for p in tiny_llama.parameters() if p.requires_grad]
    optimizer = make_optimizer(trainable, 1e-2, 0.0)
    tiny_llama(input_ids=torch.tensor([[3, 4, 5]]), labels=torch.tensor([[3, 4, 5]])).loss.backward()
    optimizer.step()
    save_checkpoint(tmp_path / "ck", tiny_llama, optimizer, {"step": 1})
    with safe_open(str(tmp_path / "ck" / TENSORS_FILE), "pt") as file:
        keys = set(file.keys())
    params = {k[len("param."):] for k in keys if k.startswith("param.")}
    assert params == {n for n, p in tiny_llama.named_parameters() if p.requires_grad}
    moments = [k for k in keys if k.startswith("optimizer.") and k.endswith(".exp_avg")]
    assert len(moments) == len(trainable)  # no optimiser state for the frozen parameters
    expected = {n: p.detach().clone() for n, p in tiny_llama.named_parameters()}
    moment = optimizer.state[trainable[0]]["exp_avg"].clone()
    with torch.no_grad():
        for p in trainable:
            p.zero_()
    fresh = make_optimizer(trainable, 1e-2, 0.0)
    assert load_checkpoint(tmp_path / "ck", tiny_llama, fresh) == {"step": 1}
    assert all(torch.equal(p, expected[n]) for n, p in tiny_llama.named_parameters())
    assert torch.equal(fresh.state[trainable[0]]["exp_avg"], moment)
    assert fresh.param_groups[0]["betas"] == optimizer.param_groups[0]["betas"]


def test_a_resumed_sae_run_says_so(activations, tmp_path, monkeypatch):
    from curate.commands.train_sae import sae as sae_command

    class Crash(Exception):
        pass

    original = sae_fit._save_checkpoint

    def crash_at_10(path, sae, optimizer, dead, step, history):
        original(path, sae, optimizer, dead, step, history)
        if step == 10:
            raise Crash

    out = tmp_path / "sae"
    monkeypatch.setattr(sae_fit, "_save_checkpoint", crash_at_10)
    with pytest.raises(Crash):
        run(_sae_config(activations, out))
    monkeypatch.setattr(sae_fit, "_save_checkpoint", original)
    args = ["--activations", str(activations), "--out", str(out), "--k", "2", "--expansion", "2", "--steps", "12",
            "--batch-size", "64", "--buffer-rows", "256", "--no-skip-first-token", "--lr", "0.01",
            "--warmup-steps", "2", "--checkpoint-every", "5", "--no-progress"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        result = CliRunner().invoke(sae_command, args)
    assert result.exit_code == 0, result.output
    assert "resumed from step 10" in result.output
    assert json.loads((out / "metrics.json").read_text())["resumed_from_step"] == 10
