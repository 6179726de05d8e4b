import polars as pl
import pytest
import torch

from concepts import ConceptDictionary, load_dictionary, save_dictionary
from curate.errors import InputError


def _concepts(k: int) -> pl.DataFrame:
    return pl.DataFrame({"concept_id": [f"c{i}" for i in range(k)], "name": [f"n{i}" for i in range(k)],
                         "synset": [""] * k, "gloss": [""] * k, "group": ["g"] * k, "label": ["neutral"] * k,
                         "n_pos": [3] * k, "n_neg": [3] * k})


def test_roundtrip(tmp_path):
    atoms = {2: torch.nn.functional.normalize(torch.randn(4, 8), dim=1),
             5: torch.nn.functional.normalize(torch.randn(4, 8), dim=1)}
    d = ConceptDictionary(layers=[2, 5], atoms=atoms, concepts=_concepts(4), manifest={"model": "tiny"})
    save_dictionary(d, tmp_path / "dic")
    back = load_dictionary(tmp_path / "dic")
    assert back.layers == [2, 5] and back.dim == 8 and back.manifest["model"] == "tiny"
    for L in (2, 5):
        assert torch.equal(back.atoms[L], atoms[L])
    assert back.concepts.equals(d.concepts)


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="expected \\[4, d\\]"):
        ConceptDictionary(layers=[1], atoms={1: torch.randn(3, 8)}, concepts=_concepts(4))
    with pytest.raises(InputError, match="no atoms for layer 2"):
        ConceptDictionary(layers=[2], atoms={1: torch.randn(4, 8)}, concepts=_concepts(4))
    with pytest.raises(InputError, match="not found"):
        load_dictionary(tmp_path)
