"""End-to-end `curate build-dictionary` on a tiny LM folder and small real-text pools (MiniLM retrieval)."""

import json

import numpy as np
import polars as pl
import pytest

from concepts import load_dictionary
from concepts.build import run
from concepts.config import BuildConfig
from curate.errors import ConfigError, InputError

TOPICS = {
    "bomb": ["The bomb exploded in the market.", "An explosive device was planted under the bridge.",
             "Police defused a homemade bomb.", "The blast from the explosive destroyed the building."],
    "bread": ["She baked fresh bread this morning.", "A loaf of whole wheat bread.",
              "The bakery sells sourdough bread.", "Toast the bread slices until golden."],
    "river": ["The river flows into the sea.", "They canoed down the wide river.",
              "Fish swim upstream in the river.", "The river bank was covered in reeds."],
    "guitar": ["He played a song on his guitar.", "The guitar has six strings.",
               "She tuned the acoustic guitar.", "A guitar solo ended the concert."],
}


@pytest.fixture
def text_pool(tmp_path):
    rows = [{"id": f"{t}-{k}", "text": s} for t, sentences in TOPICS.items() for k, s in enumerate(sentences)]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def concept_file(tmp_path):
    path = tmp_path / "concepts.txt"
    path.write_text("bomb\tan explosive weapon\nbread\tfood made from flour\nriver\tflowing water\n"
                    "guitar\ta stringed instrument\nquaternion\ta four-dimensional number system\n")
    return path


def _config(tmp_path, pool, concepts, model, **options):
    base = dict(out=tmp_path / "dic", concepts=str(concepts), pool=str(pool), model=str(model), layers="1,2",
                positives=3, negatives=3, candidates=6, background=16, min_similarity=0.35, label_data=False,
                progress=False, device="cpu")
    return BuildConfig(**{**base, **options})


@pytest.mark.real_model
def test_build_end_to_end_and_resume(tmp_path, text_pool, concept_file, tiny_lm_model):
    labels = tmp_path / "labels.csv"
    labels.write_text("name,label\nriver,desirable\n")
    manifest = run(_config(tmp_path, text_pool, concept_file, tiny_lm_model, labels=labels))
    assert manifest["vocabulary"] == 5 and manifest["dropped_no_stimuli"] == 1
    assert manifest["dropped_examples"] == ["quaternion"]
    dictionary = load_dictionary(tmp_path / "dic")
    assert dictionary.layers == [1, 2] and dictionary.dim == 32
    for layer in (1, 2):
        np.testing.assert_allclose(dictionary.atoms[layer].norm(dim=1).numpy(), 1.0, rtol=1e-5)
    table = dictionary.concepts
    assert set(table["name"]) | {m for ms in table["merged"] for m in ms} == {"bomb", "bread", "river", "guitar"}
    label = dict(zip(table["name"], table["label"]))
    assert label.get("bomb") == "undesirable" and label.get("river", "desirable") == "desirable"
    stimuli = pl.read_parquet(tmp_path / "dic" / "stimuli.parquet")
    assert {"concept_id", "stimulus_id", "modality", "score", "role"} <= set(stimuli.columns)
    bomb = stimuli.filter((pl.col("concept_id") == "c000000") & (pl.col("role") == "pos"))
    assert bomb.height == 3 and all(s.startswith("bomb-") for s in bomb["stimulus_id"])
    assert (tmp_path / "dic" / "dictionary.png").stat().st_size > 1000
    shards = {p: p.stat().st_mtime_ns for p in (tmp_path / "dic" / "work").rglob("part-*.parquet")}
    again = run(_config(tmp_path, text_pool, concept_file, tiny_lm_model, labels=labels))
    assert {p: p.stat().st_mtime_ns for p in shards} == shards  # every shard reused, none recomputed
    assert again["n_concepts"] == manifest["n_concepts"]


def test_bad_options(tmp_path, text_pool, concept_file, tiny_lm_model):
    with pytest.raises(ConfigError, match="layer 9 is out of range; the model has 2 decoder layers"):
        run(_config(tmp_path, text_pool, concept_file, tiny_lm_model, layers="9"))
    with pytest.raises(ConfigError, match="--candidates 2 < --positives 3"):
        _config(tmp_path, text_pool, concept_file, tiny_lm_model, candidates=2)
    with pytest.raises(ConfigError, match="--clip-pretrained needs --clip-model"):
        _config(tmp_path, text_pool, concept_file, tiny_lm_model, clip_pretrained=concept_file)
    with pytest.raises(ConfigError, match="--harm-threshold 1.5: a cosine threshold lies in"):
        _config(tmp_path, text_pool, concept_file, tiny_lm_model, harm_threshold=1.5)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"caption": ""}) + "\n")
    with pytest.raises(InputError, match="the pool is empty"):
        run(_config(tmp_path, empty, concept_file, tiny_lm_model))
    nothing = tmp_path / "nothing.txt"
    nothing.write_text("\n")
    with pytest.raises(InputError, match="concept list is empty"):
        run(_config(tmp_path, text_pool, nothing, tiny_lm_model))


def test_image_pool_with_tiny_clip_and_an_undecodable_image(tmp_path, concept_file, tiny_lm_model):
    open_clip = pytest.importorskip("open_clip")
    import torch
    from PIL import Image

    folder = tmp_path / "clip-config"
    folder.mkdir()
    (folder / "tiny-clip-daco.json").write_text(json.dumps({
        "embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    weights = tmp_path / "tiny-clip.pt"
    torch.save(open_clip.create_model("tiny-clip-daco").state_dict(), weights)
    rng = np.random.default_rng(0)
    rows = []
    for k, sentences in enumerate(TOPICS.values()):
        for j, caption in enumerate(sentences):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"i{k}{j}.png")
            rows.append({"image": f"i{k}{j}.png", "caption": caption})
    pool = tmp_path / "pairs.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = dict(clip_model="tiny-clip-daco", clip_pretrained=weights, min_similarity=-1.0)
    manifest = run(_config(tmp_path, pool, concept_file, tiny_lm_model, **options))
    assert manifest["distance"] == "sqrt(-(ln s_img + ln s_txt))" and manifest["n_concepts"] >= 1
    stimuli = pl.read_parquet(tmp_path / "dic" / "stimuli.parquet")
    assert set(stimuli["modality"]) == {"image-caption"}
    (tmp_path / "broken.png").write_bytes(b"not an image")
    pool.write_text(pool.read_text() + json.dumps({"image": "broken.png", "caption": "a broken picture"}) + "\n")
    with pytest.raises(InputError, match="broken.png' does not decode"):
        run(_config(tmp_path, pool, concept_file, tiny_lm_model, out=tmp_path / "dic2", **options))
