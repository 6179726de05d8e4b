"""CLIP encoder on a tiny open_clip model with random weights: text tower, image tower, undecodable images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.errors import InputError
from embed import EmbedConfig, run

open_clip = pytest.importorskip("open_clip")

TINY = {"embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip-config")
    (folder / "tiny-clip-test.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(folder)
    return "tiny-clip-test"


@pytest.fixture
def images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for k in range(5):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / f"img{k}.png")
        rows.append({"id": f"i{k}", "path": f"img{k}.png", "prompt": f"picture number {k}"})
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    rows.append({"id": "bad", "path": "broken.png", "prompt": "broken"})
    (tmp_path / "images.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path / "images.jsonl"


def test_text_tower_matches_open_clip(tmp_path, tiny_clip, images):
    import torch

    from embed.encoders.clip import ClipEncoder

    torch.manual_seed(2)
    result = run(EmbedConfig(inputs=(str(images),), out=tmp_path / "t", encoder="clip", model=tiny_clip,
                             template="{prompt}", batch_size=4, progress=False))
    assert result.manifest["normalized"] and result.manifest["encoder"] == "clip" and result.manifest["dim"] == 16
    torch.manual_seed(2)  # the same random weights, through open_clip directly
    encoder = ClipEncoder.build(tiny_clip, None, images=False)
    texts = [f"picture number {k}" for k in range(5)] + ["broken"]
    with torch.no_grad():
        expected = encoder.model.encode_text(encoder.tokenizer(texts), normalize=True).numpy()
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)


def test_image_tower_and_undecodable_image(tmp_path, tiny_clip, images):
    import torch

    from embed.encoders.clip import ClipEncoder

    config = dict(inputs=(str(images),), encoder="clip", model=tiny_clip, image_field="path", progress=False)
    with pytest.raises(InputError, match=r"images.jsonl line 6: image '.*broken.png' does not decode"):
        run(EmbedConfig(out=tmp_path / "fail", **config))
    torch.manual_seed(1)
    result = run(EmbedConfig(out=tmp_path / "skip", on_error="skip", **config))
    assert result.ids == [f"i{k}" for k in range(5)]
    assert result.manifest["skipped"]["count"] == 1 and "broken.png" in result.manifest["skipped"]["examples"][0]
    # the same weights, one image at a time, through open_clip directly
    torch.manual_seed(1)
    encoder = ClipEncoder.build(tiny_clip, None, images=True, batch_size=1)
    from PIL import Image

    with torch.no_grad():
        pixels = torch.stack([encoder.preprocess(Image.open(tmp_path / f"img{k}.png").convert("RGB"))
                              for k in range(5)])
        expected = encoder.model.encode_image(pixels, normalize=True).numpy()
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
