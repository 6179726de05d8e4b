"""SAE trainer: planted-dictionary recovery, sparse kernels vs plain autograd, dead latents, save/load, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.train.sae_fixtures import planted_activations, planted_atoms, write_activation_folder, write_dictionary
from train.sae import SAEConfig, run
from train.sae.data import open_activations
from train.sae.fit import FitOptions, fit
from train.sae.metrics import DeadLatents, evaluate
from train.sae.model import ENCODER_INIT_SCALE, SAEShape, SparseAutoencoder, load_sae, save_sae

# tiny matrices: thread-pool wake-ups cost more than the arithmetic on a shared 2-core machine
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sae")
    atoms = planted_atoms(32, 16)
    write_activation_folder(folder / "acts", planted_activations(atoms, 8000, active=2))
    write_activation_folder(folder / "held", planted_activations(atoms, 2000, active=2, seed=7))
    labels = ["undesirable"] * 3 + ["desirable"] * 3 + ["neutral"] * 2
    write_dictionary(folder / "dict", atoms[:8], labels)
    return folder, atoms


def _config(folder, out, **kw):
    base = dict(activations=folder / "acts", out=out, dictionary=folder / "dict", init="dictionary",
                k=2, expansion=4, steps=300,
                batch_size=128, buffer_rows=2048, skip_first_token=False, lr=1e-2, warmup_steps=10,
                dead_after_tokens=5000, eval_activations=folder / "held", checkpoint_every=0)
    return SAEConfig(**{**base, **kw})


def test_planted_dictionary_is_recovered(planted, tmp_path):
    folder, atoms = planted
    summary = run(_config(folder, tmp_path / "sae", init="random"))
    sae = load_sae(tmp_path / "sae")
    best = (torch.as_tensor(atoms) @ sae.W_dec.T).max(dim=1).values
    assert (best > 0.9).float().mean() >= 0.9, best
    assert summary["held_out"]["fvu"] < 0.1
    assert summary["held_out"]["l0"] == pytest.approx(2.0)
    for name in ("sae.safetensors", "sae.json", "annotations.parquet", "metrics.json", "training_curve.png",
                 "sae_config.json"):
        assert (tmp_path / "sae" / name).is_file(), name
    history = json.loads((tmp_path / "sae" / "metrics.json").read_text())["history"]
    assert len(history) == 300 and history[-1]["fvu"] < history[0]["fvu"]
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(sae.width), atol=1e-5)


def test_dictionary_init_places_concepts_first(planted, tmp_path):
    folder, atoms = planted
    config = _config(folder, tmp_path / "sae", steps=1)
    from train.sae.run import _build

    source = open_activations(config.activations)
    sae = _build(config, source, 1, torch.as_tensor(atoms[:8]), "cpu")
    assert torch.allclose(sae.W_dec[:8], torch.as_tensor(atoms[:8]), atol=1e-6)
    assert torch.allclose(sae.W_enc[:8], torch.as_tensor(atoms[:8]) * ENCODER_INIT_SCALE, atol=1e-6)
    assert not torch.allclose(sae.W_dec[8:16], torch.as_tensor(atoms[8:16]), atol=0.1)
    # a fresh dictionary-initialised SAE already explains the planted data better than a random one
    x = open_activations(folder / "held").sample(1000)
    random = _build(_config(folder, tmp_path / "r", init="random"), source, 1, None, "cpu")
    assert evaluate(sae, x)["fvu"] < evaluate(random, x)["fvu"]


def test_annotations_follow_the_centroids(planted, tmp_path):
    import polars as pl

    folder, _ = planted
    run(_config(folder, tmp_path / "sae", steps=20, eta=0.5))
    table = pl.read_parquet(tmp_path / "sae" / "annotations.parquet")
    assert table.height == 64 and table["atom"].to_list() == list(range(64))
    assert table["from_dictionary"].sum() == 8
    for row in table.iter_rows(named=True):
        bad, good = row["cos_undesirable"], row["cos_desirable"]
        expected = ("undesirable" if bad >= 0.5 and bad >= good else "desirable" if good >= 0.5 and good > bad
                    else "neutral")
        assert row["label"] == expected
    # the dictionary atoms keep their concept as nearest neighbour after a short run
    head = table.filter(pl.col("from_dictionary"))
    assert head["nearest_concept_id"].to_list() == [f"c{i}" for i in range(8)]


@pytest.mark.parametrize("arch", ["topk", "batchtopk"])
def test_sparse_kernels_match_plain_autograd(arch):
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEShape(16, 64, arch=arch, k=4)).train()
    with torch.no_grad():
        sae.b_dec.normal_()
        sae.b_enc.normal_(0, 0.1)
    x = torch.randn(32, 16)
    recon, codes = sae(x)
    (recon - x).pow(2).sum().backward()
    fast = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad()
    pre = torch.relu((x - sae.b_dec.detach()) @ sae.W_enc.T + sae.b_enc)
    keep = torch.zeros_like(pre, dtype=torch.bool)
    keep[codes.rows, codes.cols] = True
    plain = (pre * keep) @ sae.W_dec + sae.b_dec
    (plain - x).pow(2).sum().backward()
    assert torch.allclose(plain, recon, atol=1e-5)
    for name, param in sae.named_parameters():
        assert torch.allclose(fast[name], param.grad, rtol=1e-4, atol=1e-4), name
    if arch == "topk":
        assert torch.equal(torch.bincount(codes.rows, minlength=32), torch.full((32,), 4))
    else:
        assert len(codes.cols) <= 4 * 32 and float(sae.threshold) > 0


def test_dead_latent_accounting():
    dead = DeadLatents(width=4, after_tokens=100)
    dead.update(torch.tensor([0, 1]), torch.tensor([1.0, 0.0]), tokens=60)  # latent 1 selected but zero: no fire
    assert dead.since_fired.tolist() == [0, 60, 60, 60] and dead.fraction == 0.0
    dead.update(torch.tensor([2]), torch.tensor([0.5]), tokens=60)
    assert dead.since_fired.tolist() == [60, 120, 0, 120]
    assert dead.mask.tolist() == [False, True, False, True] and dead.fraction == 0.5


def test_auxk_revives_a_dead_latent(planted):
    """A latent whose (tiny, positive) pre-activation never wins the top-k moves only through the AuxK loss."""
    folder, _ = planted
    source = open_activations(folder / "acts")
    torch.manual_seed(0)

    def train(alpha):
        sae = SparseAutoencoder(SAEShape(16, 64, k=2), seed=0)
        with torch.no_grad():
            sae.W_enc[5] *= 0.001
        before = sae.W_enc[5].clone()
        opts = FitOptions(steps=40, batch_size=128, lr=1e-2, warmup_steps=0, auxk_alpha=alpha,
                          dead_after_tokens=256, buffer_rows=2048, progress=False)
        history = fit(sae, source, opts)
        return sae, before, history

    sae, before, history = train(1 / 32)
    assert history[-1]["dead_pct"] > 0 and history[-1]["auxk"] > 0
    assert not torch.allclose(sae.W_enc[5], before)
    sae, before, _ = train(0.0)
    assert torch.allclose(sae.W_enc[5], before)


def test_save_load_round_trip(tmp_path):
    sae = SparseAutoencoder(SAEShape(8, 32, arch="batchtopk", k=3, layer=4, model="m"), seed=3)
    with torch.no_grad():
        sae.threshold.fill_(0.25)
        sae.b_dec.normal_()
    save_sae(sae, tmp_path, note="x")
    back = load_sae(tmp_path)
    assert back.shape == sae.shape
    for name, value in sae.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name
    x = torch.randn(5, 8)
    assert torch.equal(back(x)[0], sae.eval()(x)[0])


def test_resume_equals_uninterrupted(planted, tmp_path, monkeypatch):
    from train.sae import fit as sae_fit

    folder, _ = planted
    whole = run(_config(folder, tmp_path / "whole", steps=60, checkpoint_every=25, eval_activations=None))

    class Crash(Exception):
        pass

    original = sae_fit._save_checkpoint

    def crash_after(path, sae, optimizer, dead, step, history):
        original(path, sae, optimizer, dead, step, history)
        if step == 50:
            raise Crash

    # a 60-step run that dies right after writing its step-50 checkpoint
    monkeypatch.setattr(sae_fit, "_save_checkpoint", crash_after)
    with pytest.raises(Crash):
        run(_config(folder, tmp_path / "resumed", steps=60, checkpoint_every=25, eval_activations=None))
    monkeypatch.setattr(sae_fit, "_save_checkpoint", original)
    assert (tmp_path / "resumed" / sae_fit.CHECKPOINT_NAME).exists()
    resumed = run(_config(folder, tmp_path / "resumed", steps=60, checkpoint_every=25, eval_activations=None))
    assert resumed["final"] == pytest.approx(whole["final"], rel=1e-5)
    a, b = load_sae(tmp_path / "whole"), load_sae(tmp_path / "resumed")
    assert torch.allclose(a.W_dec, b.W_dec, atol=1e-6) and torch.allclose(a.W_enc, b.W_enc, atol=1e-6)
    assert not (tmp_path / "resumed" / sae_fit.CHECKPOINT_NAME).exists()


def test_stream_is_shuffled_deterministic_and_complete(planted):
    folder, _ = planted
    source = open_activations(folder / "acts")
    first = [b for _, b in zip(range(80), source.batches(100, seed=1, buffer_rows=1000))]
    again = [b for _, b in zip(range(80), source.batches(100, seed=1, buffer_rows=1000))]
    skipped = [b for _, b in zip(range(20), source.batches(100, seed=1, buffer_rows=1000, skip=50))]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(np.array_equal(a, b) for a, b in zip(first[50:], skipped))
    epoch = np.concatenate(first)  # 8000 rows = one epoch: every row exactly once
    every = np.concatenate(list(source.iter_shards()))
    assert np.array_equal(np.sort(epoch, axis=0), np.sort(every, axis=0))
    assert not np.array_equal(first[0], every[:100])
