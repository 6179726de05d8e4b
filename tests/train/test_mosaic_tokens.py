"""MOSAIC tokens: prefix insertion under left/right padding, composition order, controller, save/load."""

from __future__ import annotations

import pytest
import torch

from curate.errors import ConfigError, InputError
from curate.evaluation.controls import Controller
from train.mosaic import MosaicController, load_controller
from train.mosaic.tokens import ControlTokens, insert_prefix, position_ids_from_mask


def _tokens(hidden: int = 32) -> ControlTokens:
    torch.manual_seed(0)
    return ControlTokens(["a", "b", "c"], 2, hidden)


def test_insert_prefix_left_and_right_padding():
    embeds = torch.arange(1, 7, dtype=torch.float32).view(2, 3, 1)  # rows [1,2,3], [4,5,6]
    prefix = torch.tensor([[10.0], [20.0]])
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])
    out, mask, _ = insert_prefix(prefix, embeds, left)
    assert out[0, :, 0].tolist() == [1, 10, 20, 2, 3] and mask[0].tolist() == [0, 1, 1, 1, 1]
    assert out[1, :, 0].tolist() == [10, 20, 4, 5, 6] and mask[1].tolist() == [1, 1, 1, 1, 1]
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])
    labels = torch.tensor([[-100, 7, -100], [-100, 8, 9]])
    out, mask, lab = insert_prefix(prefix, embeds, right, labels)
    assert out[0, :, 0].tolist() == [10, 20, 1, 2, 3] and mask[0].tolist() == [1, 1, 1, 1, 0]
    assert lab.tolist() == [[-100, -100, -100, 7, -100], [-100, -100, -100, 8, 9]]


def test_compose_concatenates_in_the_order_given():
    tokens = _tokens()
    ab, ba = tokens.compose(["a", "b"]), tokens.compose(["b", "a"])
    assert ab.shape == (4, 32)
    assert torch.equal(ab[:2], tokens.tokens["a"]) and torch.equal(ba[:2], tokens.tokens["b"])
    assert tokens.compose([]).shape == (0, 32)


def test_left_padded_batch_matches_each_row_alone(tiny_llama):
    """Padding must not leak: a padded row's last logits equal the same row run alone with the same tokens."""
    controller = MosaicController(_tokens(), ["c", "a"])
    assert isinstance(controller, Controller)
    rows = [[5, 6, 7, 8, 9], [11, 12]]
    ids = torch.tensor([rows[0], [0, 0, 0] + rows[1]])
    mask = torch.tensor([[1] * 5, [0, 0, 0, 1, 1]])
    with torch.no_grad():
        embeds, emask = controller.embed_inputs(tiny_llama, ids, mask)
        assert embeds.shape == (2, 9, 32) and emask[1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
        batch = tiny_llama(inputs_embeds=embeds, attention_mask=emask,
                           position_ids=position_ids_from_mask(emask)).logits
        for i, row in enumerate(rows):
            e, m = controller.embed_inputs(tiny_llama, torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long))
            alone = tiny_llama(inputs_embeds=e, attention_mask=m).logits
            torch.testing.assert_close(batch[i, -1], alone[0, -1], atol=1e-5, rtol=1e-4)


def test_tokens_change_the_output(tiny_llama):
    ids, mask = torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long)
    with torch.no_grad():
        a = tiny_llama(inputs_embeds=MosaicController(_tokens(), ["a"]).embed_inputs(tiny_llama, ids, mask)[0]).logits
        b = tiny_llama(inputs_embeds=MosaicController(_tokens(), ["b"]).embed_inputs(tiny_llama, ids, mask)[0]).logits
    assert not torch.allclose(a[0, -1], b[0, -1])


def test_save_load_roundtrip(tmp_path):
    tokens = _tokens()
    tokens.save(tmp_path)
    loaded = ControlTokens.load(tmp_path)
    assert loaded.categories == ["a", "b", "c"] and loaded.tokens_per_category == 2
    for c in tokens.categories:
        assert torch.equal(loaded.tokens[c], tokens.tokens[c])
    controller = load_controller(tmp_path, active="b,a")
    assert controller.active == ("b", "a")


def test_bad_active_and_bad_sizes(tmp_path):
    _tokens().save(tmp_path)
    with pytest.raises(InputError, match="unknown category zzz; trained categories: a, b, c"):
        load_controller(tmp_path, active="a,zzz")
    with pytest.raises(InputError, match="listed twice"):
        load_controller(tmp_path, active=["a", "a"])
    with pytest.raises(ConfigError, match="--tokens-per-category 0"):
        ControlTokens(["a"], 0, 8)
    with pytest.raises(InputError, match="no control_tokens.safetensors"):
        ControlTokens.load(tmp_path / "missing")


def test_generation_with_controls_is_independent_of_batch_padding(tiny_llama, char_tokenizer):
    """Through HF generate (left padding, KV cache): a prompt answered alone equals it answered beside a longer one."""
    from curate.lm.generation import generate

    controller = MosaicController(_tokens(), ["b", "c"])
    alone = generate(tiny_llama, char_tokenizer, ["hi"], controller=controller, max_new_tokens=6, progress=False)
    batch = generate(tiny_llama, char_tokenizer, ["hi", "a much longer prompt here"], controller=controller,
                     max_new_tokens=6, progress=False, batch_size=2)
    plain = generate(tiny_llama, char_tokenizer, ["hi"], max_new_tokens=6, progress=False)
    assert alone[0] == batch[0]
    assert alone[0] != plain[0]
