import sys
import types

import polars as pl
import pytest
import torch

from concepts import ConceptDictionary, save_dictionary
from concepts.decompose import decompose
from concepts.steering import SteeringController, load_controller, remove_components
from curate.errors import ConfigError, InputError


def _atoms(K=12, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(K, d, generator=g), dim=1)


def _save(folder, atoms_by_layer, labels):
    K = len(labels)
    concepts = pl.DataFrame({"concept_id": [f"c{i}" for i in range(K)], "name": [f"n{i}" for i in range(K)],
                             "synset": [""] * K, "gloss": [""] * K, "group": ["g"] * K, "label": labels,
                             "n_pos": [4] * K, "n_neg": [4] * K})
    save_dictionary(ConceptDictionary(layers=sorted(atoms_by_layer), atoms=atoms_by_layer, concepts=concepts), folder)
    return folder


def test_removes_exactly_the_chosen_components():
    atoms = _atoms()
    codes = torch.zeros(5, 12)
    codes[:, 2], codes[:, 7], codes[:, 9] = 3.0, -2.0, 1.5
    hidden = (codes @ atoms).reshape(1, 5, 32)
    remove = torch.zeros(12, dtype=torch.bool)
    remove[7] = True
    steered, fraction = remove_components(hidden, atoms, remove, k=3)
    torch.testing.assert_close(steered[0], (codes[:, [2, 9]] @ atoms[[2, 9]]), atol=1e-5, rtol=0)
    assert 0 < fraction < 1
    half, _ = remove_components(hidden, atoms, remove, k=3, strength=0.5)
    torch.testing.assert_close(half[0], hidden[0] - 0.5 * (-2.0) * atoms[7], atol=1e-5, rtol=0)
    same, zero = remove_components(hidden, atoms, torch.zeros(12, dtype=torch.bool), k=3)
    assert torch.equal(same, hidden) and zero == 0.0


def test_sink_tokens_are_left_alone():
    atoms = _atoms()
    hidden = torch.randn(1, 6, 32)
    hidden[0, 0] *= 1000.0
    remove = torch.ones(12, dtype=torch.bool)
    steered, _ = remove_components(hidden, atoms, remove, k=4)
    assert torch.equal(steered[0, 0], hidden[0, 0]) and not torch.allclose(steered[0, 1:], hidden[0, 1:])


def test_hooks_on_a_tiny_model_change_only_while_active(tmp_path, tiny_llama):
    folder = _save(tmp_path / "dic", {1: _atoms(), 2: _atoms(seed=1)}, ["undesirable"] * 4 + ["neutral"] * 8)
    controller = load_controller(folder, k=4, layers="1")
    assert list(controller.atoms) == [1]
    ids = torch.tensor([[5, 9, 17, 33, 40, 41]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        plain = tiny_llama(input_ids=ids).logits
        embeds, _ = controller.embed_inputs(tiny_llama, ids, mask)
        with controller.hooks(tiny_llama):
            steered = tiny_llama(inputs_embeds=embeds, attention_mask=mask).logits
        again = tiny_llama(input_ids=ids).logits
    assert not torch.allclose(plain, steered, atol=1e-4)
    assert torch.equal(plain, again)  # hooks removed on exit
    assert controller.removed_fraction and all(0 < f < 1 for f in controller.removed_fraction)


def test_eval_controller_contract(tmp_path, tiny_llama):
    from curate.evaluation.controls import Controller
    from curate.evaluation.controls import load_controller as eval_load

    folder = _save(tmp_path / "dic", {1: _atoms()}, ["undesirable"] + ["neutral"] * 11)
    (folder / "steering.json").write_text('{"k": 2, "strength": 0.5}')
    controller = eval_load("steer", folder)
    assert isinstance(controller, Controller) and isinstance(controller, SteeringController)
    assert controller.options["k"] == 2 and controller.options["strength"] == 0.5


def test_sae_folders_go_to_train_sae_steer(tmp_path, monkeypatch):
    (tmp_path / "sae.safetensors").write_bytes(b"")
    fake = types.ModuleType("train.sae.steer")
    fake.load_sae_controller = lambda path, **options: ("sae", path, options)
    monkeypatch.setitem(sys.modules, "train.sae.steer", fake)
    from curate.evaluation import controls

    monkeypatch.setattr(controls, "Controller", tuple)  # the fake returns a tuple, not a Controller
    assert controls.load_controller("steer", tmp_path, gamma=0.5) == ("sae", tmp_path, {"gamma": 0.5})
    with pytest.raises(InputError, match="is an SAE folder"):
        load_controller(tmp_path)


def test_bad_input(tmp_path, tiny_llama):
    wide = _save(tmp_path / "wide", {1: _atoms(d=48)}, ["undesirable"] * 12)
    with pytest.raises(InputError, match="48-d but the model's hidden size is 32"):
        with load_controller(wide).hooks(tiny_llama):
            pass
    deep = _save(tmp_path / "deep", {5: _atoms()}, ["undesirable"] * 12)
    with pytest.raises(ConfigError, match="layer 5 is out of range; the model has 2 decoder layers"):
        with load_controller(deep).hooks(tiny_llama):
            pass
    with pytest.raises(ConfigError, match=r"layers \[3\] are not in the dictionary"):
        load_controller(deep, layers=[3])
    neutral = _save(tmp_path / "neutral", {1: _atoms()}, ["neutral"] * 12)
    with pytest.raises(InputError, match="no concept .* is labelled"):
        load_controller(neutral)
    with pytest.raises(ConfigError, match="k=20 but the dictionary has 12 atoms"):
        decompose(torch.randn(2, 32), _atoms(), k=20)


def _scored(folder, layers=(1, 2, 3), K=12):
    """A dictionary with harm scores: concepts 0-4 undesirable, scored 0.1 (c0) up to 0.5 (c4)."""
    atoms = {L: _atoms(K=K, seed=L) for L in layers}
    labels = ["undesirable"] * 5 + ["neutral"] * (K - 5)
    concepts = pl.DataFrame({"concept_id": [f"c{i}" for i in range(K)], "name": [f"n{i}" for i in range(K)],
                             "synset": [""] * K, "gloss": [""] * K, "group": ["g"] * K, "label": labels,
                             "n_pos": [4] * K, "n_neg": [4] * K,
                             "harm_score": [0.1 * (i + 1) if i < 5 else 0.9 for i in range(K)]})
    save_dictionary(ConceptDictionary(layers=list(layers), atoms=atoms, concepts=concepts), folder)
    return folder


def test_defaults_are_the_validation_choice(tmp_path):
    from concepts.steering import DEFAULTS, concept_mask

    assert DEFAULTS == {"k": 16, "strength": -1.0, "concepts": "top100", "method": "omp"}
    c = load_controller(_scored(tmp_path / "d"))
    assert list(c.atoms) == [2]  # the middle of layers 1, 2, 3
    assert c.options["strength"] == -1.0 and c.options["k"] == 12  # k 16 clamped to the 12 atoms of this dictionary
    assert c.remove.tolist() == [True] * 5 + [False] * 7  # top100 of 5 undesirable = all of them; neutral never
    top2 = concept_mask(pl.read_parquet(tmp_path / "d" / "concepts.parquet"), "top2").tolist()
    assert top2 == [False, False, False, True, True] + [False] * 7  # the two highest-scored undesirable ones
    # the folder's steering.json beats the defaults, the caller beats both
    (tmp_path / "d" / "steering.json").write_text('{"k": 3, "strength": 1.0, "layers": "1,3", "concepts": "top2"}')
    c = load_controller(tmp_path / "d")
    assert (list(c.atoms), c.options["k"], c.options["strength"]) == ([1, 3], 3, 1.0)
    assert c.remove.tolist() == top2
    c = load_controller(tmp_path / "d", k=5, strength=0.5, concepts="all")
    assert (c.options["k"], c.options["strength"], int(c.remove.sum())) == (5, 0.5, 5)


def test_top_set_needs_harm_scores_only_when_asked(tmp_path):
    old = _save(tmp_path / "old", {1: _atoms(), 2: _atoms(seed=1)}, ["undesirable"] * 3 + ["neutral"] * 9)
    assert int(load_controller(old).remove.sum()) == 3  # the default top100 falls back to every undesirable concept
    with pytest.raises(ConfigError, match="no harm_score column"):
        load_controller(old, concepts="top10")
    with pytest.raises(ConfigError, match="use all, seed or topN"):
        load_controller(old, concepts="top0")
