"""Dictionary-filled SAE initialisation (--init-fill) and the init comparison's scoring (bench.sae.init_compare)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from curate.errors import ConfigError, InputError
from tests.train.sae_fixtures import planted_activations, planted_atoms, write_activation_folder, write_dictionary
from train.sae import SAEConfig, run
from train.sae.init import choose_atoms, dictionary_slots, select_init_atoms
from train.sae.model import ENCODER_INIT_SCALE, SAEShape, SparseAutoencoder, load_sae

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = ["neutral", "undesirable", "neutral", "desirable", "neutral", "undesirable"] + ["neutral"] * 42


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sae-init")
    atoms = planted_atoms(48, 24)
    write_activation_folder(folder / "acts", planted_activations(atoms, 4000, active=3))
    write_activation_folder(folder / "held", planted_activations(atoms, 1500, active=3, seed=9))
    write_dictionary(folder / "dict", atoms, LABELS)
    return folder, atoms


def _config(folder, out, **kw):
    base = dict(activations=folder / "acts", out=out, dictionary=folder / "dict", init="dictionary",
                k=3, expansion=2, steps=40,
                batch_size=128, buffer_rows=1024, skip_first_token=False, lr=1e-2, warmup_steps=5,
                eval_activations=folder / "held", checkpoint_every=0, progress=False)
    return SAEConfig(**{**base, **kw})


def test_labelled_atoms_go_first_then_a_seeded_order():
    chosen = choose_atoms(LABELS, 10, seed=3)
    assert chosen[:3].tolist() == [1, 5, 3]  # undesirable in dictionary order, then desirable
    assert len(set(chosen.tolist())) == 10
    assert np.array_equal(chosen, choose_atoms(LABELS, 10, seed=3))
    assert not np.array_equal(chosen[3:], choose_atoms(LABELS, 10, seed=4)[3:])
    assert sorted(choose_atoms(LABELS, 48).tolist()) == list(range(48))


def test_slots_are_the_ceiling_of_the_share():
    assert dictionary_slots(2304, 15000, 0.5) == 1152
    assert dictionary_slots(2304, 15000, 1.0) == 2304
    assert dictionary_slots(10, 15000, 0.55) == 6
    assert dictionary_slots(2304, 104, None) == 104
    with pytest.raises(ConfigError, match=r"--init-fill 1 .* 2304 of 2304 latents .* holds 1000 atoms.*<= 0.434"):
        dictionary_slots(2304, 1000, 1.0)


def test_select_keeps_every_atom_without_a_share():
    atoms = torch.randn(5, 4)
    assert select_init_atoms(atoms, ["neutral"] * 5, 16, None) is atoms
    picked = select_init_atoms(atoms, ["neutral", "undesirable", "neutral", "neutral", "neutral"], 4, 0.5)
    assert picked.shape == (2, 4) and torch.equal(picked[0], atoms[1])


@pytest.mark.parametrize(("options", "match"), [
    ({"init_fill": 0.0}, r"--init-fill 0.0: a share of the latents, in \(0, 1\]"),
    ({"init_fill": 1.5}, r"--init-fill 1.5"),
    ({"init_fill": 0.5, "init": "random"}, r"--init-fill 0.5 with --init random.*pass --init dictionary"),
])
def test_bad_fill_options(planted, tmp_path, options, match):
    folder, _ = planted
    with pytest.raises(ConfigError, match=match):
        _config(folder, tmp_path / "sae", **options)


def test_fill_one_starts_the_whole_decoder_from_the_dictionary(planted, tmp_path):
    from train.sae.data import open_activations
    from train.sae.run import _build

    folder, atoms = planted
    config = _config(folder, tmp_path / "sae", init_fill=1.0, seed=2)
    chosen = select_init_atoms(torch.as_tensor(atoms), LABELS, 48, 1.0, seed=2)
    sae = _build(config, open_activations(folder / "acts"), 1, chosen, "cpu")
    order = choose_atoms(LABELS, 48, seed=2)
    assert torch.allclose(sae.W_dec, torch.as_tensor(atoms[order]), atol=1e-6)
    assert torch.allclose(sae.W_enc, torch.as_tensor(atoms[order]) * ENCODER_INIT_SCALE, atol=1e-6)
    assert sae.shape.num_concepts == 48


def test_run_with_a_fill_share_records_it(planted, tmp_path):
    import polars as pl

    folder, _ = planted
    summary = run(_config(folder, tmp_path / "sae", init_fill=0.5))
    assert summary["dictionary_atoms"] == 24 and summary["dictionary_share"] == 0.5
    table = pl.read_parquet(tmp_path / "sae" / "annotations.parquet")
    assert table["from_dictionary"].sum() == 24
    assert json.loads((tmp_path / "sae" / "sae_config.json").read_text())["init_fill"] == 0.5
    random = run(_config(folder, tmp_path / "random", init="random"))
    assert random["dictionary_atoms"] == 0 and random["dictionary_share"] == 0.0


def test_a_share_beyond_the_dictionary_is_refused_before_training(planted, tmp_path):
    folder, atoms = planted
    write_dictionary(tmp_path / "small", atoms[:8], ["neutral"] * 8)
    with pytest.raises(ConfigError, match=r"--init-fill 0.5 puts dictionary atoms in 24 of 48 latents.*holds 8"):
        run(_config(folder, tmp_path / "sae", dictionary=tmp_path / "small", init_fill=0.5))
    assert not (tmp_path / "sae" / "metrics.json").exists()


# --- the comparison's scoring -------------------------------------------------------------------------------


def _trained(planted, tmp_path, **kw):
    folder, _ = planted
    run(_config(folder, tmp_path / "sae", init="random", **kw))
    return load_sae(tmp_path / "sae")


def test_point_figures_equal_evaluate_and_resamples_are_paired(planted, tmp_path):
    from bench.sae._score import bootstrap, load_held_out, record_stats, resample_counts
    from train.sae.metrics import evaluate

    folder, _ = planted
    sae = _trained(planted, tmp_path)
    held = load_held_out(folder / "held", 10_000, skip_first_token=False)
    assert held.num_records == 300 and len(held.vectors) == 1500  # 5 tokens per record
    stats = record_stats(sae, held)
    point = bootstrap(stats, np.ones((1, held.num_records)))
    reference = evaluate(sae, held.vectors)
    assert point["fvu"][0] == pytest.approx(reference["fvu"], rel=1e-5)
    assert 100 * point["dead"][0] == pytest.approx(reference["never_fired_pct"])
    assert stats.l0 == pytest.approx(reference["l0"])
    counts = resample_counts(held.num_records, 200, seed=1)
    assert counts.shape == (200, 300) and np.all(counts.sum(1) == 300)
    draws = bootstrap(stats, counts)
    assert draws["fvu"].std() > 0 and np.all(draws["dead"] >= point["dead"][0])


def test_resampled_fvu_uses_the_resample_mean(planted, tmp_path):
    """Doubling every record's count leaves FVU unchanged; weights equal a token-level recomputation."""
    from bench.sae._score import HeldOut, bootstrap, record_stats

    folder, _ = planted
    sae = _trained(planted, tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 24)).astype(np.float32) + 3
    held = HeldOut(x, np.repeat(np.arange(10), 4))
    stats = record_stats(sae, held)
    weights = rng.integers(0, 3, size=10).astype(np.float64)
    weights[0] = 1
    token_w = np.repeat(weights, 4)[:, None]
    with torch.no_grad():
        recon = sae(torch.as_tensor(x))[0].numpy().astype(np.float64)
    mean = (token_w * x).sum(0) / token_w.sum()
    expected = (token_w * (x - recon) ** 2).sum() / (token_w * (x - mean) ** 2).sum()
    assert bootstrap(stats, weights[None])["fvu"][0] == pytest.approx(expected, rel=1e-6)
    once = bootstrap(stats, np.ones((1, 10)))["fvu"][0]
    assert bootstrap(stats, 2 * np.ones((1, 10)))["fvu"][0] == pytest.approx(once)


def test_held_out_subset_keeps_whole_records(planted):
    from bench.sae._score import load_held_out

    folder, _ = planted
    held = load_held_out(folder / "held", 103, seed=0, skip_first_token=False)
    assert len(held.vectors) == 100 and held.num_records == 20
    assert np.all(np.bincount(held.record) == 5)
    dropped = load_held_out(folder / "held", 10_000, skip_first_token=True)
    assert len(dropped.vectors) == 1200 and np.all(np.bincount(dropped.record) == 4)


@pytest.mark.parametrize("skip_first_token", [False, True])
def test_one_read_per_shard_gives_the_rows_of_read_shard(planted, skip_first_token, monkeypatch):
    import curate.io
    from bench.sae._score import load_held_out
    from train.sae.data import open_activations

    folder, _ = planted
    source = open_activations(folder / "held", skip_first_token=skip_first_token)
    for name in source.shards:
        vectors, ids = source.read_records(name)
        assert np.array_equal(vectors, source.read_shard(name)) and len(ids) == len(vectors)
    reads = []
    original = curate.io.read_table
    monkeypatch.setattr(curate.io, "read_table", lambda path, **kw: reads.append(path) or original(path, **kw))
    load_held_out(folder / "held", 10_000, skip_first_token=skip_first_token)
    assert sorted(p.name for p in reads) == sorted(source.shards)  # each shard read once


def test_a_shard_with_nan_activations_is_refused(tmp_path):
    from bench.sae._score import load_held_out

    x = planted_activations(planted_atoms(8, 24), 20, active=2)
    x[3, 0] = np.nan
    write_activation_folder(tmp_path / "held", x, shard_rows=10)
    with pytest.raises(InputError, match="part-00000.*1 activation values are NaN"):
        load_held_out(tmp_path / "held", 100, skip_first_token=False)


def test_seed_interval_is_student_t():
    from bench.sae._score import seed_interval

    low, high = seed_interval([1.0, 2.0, 3.0])
    assert (low + high) / 2 == pytest.approx(2.0)
    assert (high - low) / 2 == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)
    assert seed_interval([1.0]) is None


def test_merge_keeps_other_keys(tmp_path):
    """The shared daco.json helper the comparison writes through: other scripts' keys survive."""
    from bench.daco._results import update_results

    path = tmp_path / "daco.json"
    path.write_text(json.dumps({"omp": {"omp_speedup": 3.0}, "sae_init": "old"}))
    update_results(path, {"sae_init": {"rows": [1]}})
    assert json.loads(path.read_text()) == {"omp": {"omp_speedup": 3.0}, "sae_init": {"rows": [1]}}
    assert [p.name for p in tmp_path.iterdir()] == ["daco.json"]
    path.write_text("{not json")
    with pytest.raises(InputError, match="daco.json: not valid JSON"):
        update_results(path, {"sae_init": {}})
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="holds a JSON list"):
        update_results(path, {"sae_init": {}})


def test_init_compare_end_to_end(planted, tmp_path, capsys):
    from bench.sae.init_compare import main

    folder, _ = planted
    results = tmp_path / "daco.json"
    results.write_text(json.dumps({"steering": {"kept": True}}))
    argv = ["--dictionary", str(folder / "dict"), "--acts", str(folder / "acts"), "--held", str(folder / "held"),
            "--work", str(tmp_path / "work"), "--results", str(results), "--steps", "30", "--seeds", "0,1",
            "--fills", "0.5,1.0", "--expansion", "2", "--k", "3", "--batch-size", "128", "--buffer-rows", "1024",
            "--resamples", "100", "--time-steps", "3", "--device", "cpu", "--no-progress"]
    part = main(argv)
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("measured ") and " s/step on cpu (width 48" in printed
    assert "plan: 6 runs (2 seeds x 3 inits) x 30 steps" in printed
    saved = json.loads(results.read_text())
    assert saved["steering"] == {"kept": True} and saved["sae_init"]["rows"] == part["rows"]
    per_run = [row for row in part["rows"] if row["seed"] != "mean"]
    assert len(per_run) == 6 and {row["sae_init"] for row in per_run} == {"random", "dictionary"}
    for row in part["rows"]:
        assert {"sae_init", "fvu", "fvu_ci", "dead", "seed"} <= set(row)
        assert row["fvu_ci"][0] <= row["fvu"] <= row["fvu_ci"][1]
    assert sorted({row["init_fill"] for row in per_run}) == [0.0, 0.5, 1.0]
    means = [row for row in part["rows"] if row["seed"] == "mean"]
    assert len(means) == 3 and all(row["seeds"] == [0, 1] for row in means)
    fill1 = [row for row in part["paired"] if row["comparison"] == "dictionary-fill1 - random"]
    assert [row["seed"] for row in fill1] == [0, 1, "mean"]
    by = {(row["variant"], row["seed"]): row["fvu"] for row in per_run}
    assert fill1[0]["fvu_delta"] == pytest.approx(by[("dictionary-fill1", 0)] - by[("random", 0)])
    # planted atoms as the whole decoder reconstruct far better than random atoms after 30 steps
    assert fill1[-1]["fvu_delta"] < 0
    # a rerun reuses the finished SAEs
    stamp = (tmp_path / "work" / "sae-random-s0" / "metrics.json").stat().st_mtime_ns
    assert main(argv)["rows"] == part["rows"]
    assert (tmp_path / "work" / "sae-random-s0" / "metrics.json").stat().st_mtime_ns == stamp


def test_estimate_only_trains_nothing(planted, tmp_path, capsys):
    from bench.sae.init_compare import main

    folder, _ = planted
    assert main(["--dictionary", str(folder / "dict"), "--acts", str(folder / "acts"), "--held",
                 str(folder / "held"), "--work", str(tmp_path / "work"), "--results", str(tmp_path / "r.json"),
                 "--expansion", "2", "--k", "3", "--batch-size", "128", "--buffer-rows", "1024", "--time-steps", "2",
                 "--steps", "1000", "--device", "cpu", "--estimate-only"]) is None
    assert "plan: 6 runs (3 seeds x 2 inits) x 1000 steps" in capsys.readouterr().out
    assert not (tmp_path / "r.json").exists() and not list((tmp_path / "work").glob("sae-*"))


def test_shape_error_points_at_the_fill_option():
    with pytest.raises(ConfigError, match="--init-fill 1.0"):
        SAEShape(dim=4, width=8, k=2, num_concepts=9)
    assert SparseAutoencoder(SAEShape(dim=4, width=8, k=2, num_concepts=8)).width == 8
