import pytest
import torch

from concepts.refusal_direction import (
    DirectionController,
    difference_of_means,
    last_token_activations,
    load_direction,
    save_direction,
)
from curate.errors import ConfigError, InputError
from curate.lm.layers import decoder_layers


def test_last_token_activations_equal_unpadded_forward(tiny_llama, char_tokenizer):
    from curate.lm.chat import format_prompt

    prompts = ["hi", "a much longer prompt here"]
    got = last_token_activations(tiny_llama, char_tokenizer, prompts, layer=2, batch_size=2)
    for row, prompt in zip(got, prompts):
        text = format_prompt(char_tokenizer, prompt)
        ids = torch.tensor([char_tokenizer(text, add_special_tokens=False)["input_ids"]])
        alone = tiny_llama(input_ids=ids, output_hidden_states=True).hidden_states[2][0, -1]
        assert torch.allclose(row, alone, atol=1e-4)
    with pytest.raises(ConfigError, match="--layer 9"):
        last_token_activations(tiny_llama, char_tokenizer, prompts, layer=9)


def _block_output(model, ids, controller=None):
    """Block 1's output as the next block sees it (a capture hook registered after the controller's)."""
    seen = {}

    def capture(module, args, out):
        seen["h"] = (out[0] if isinstance(out, tuple) else out).detach().clone()

    def forward():
        handle = decoder_layers(model)[0].register_forward_hook(capture)
        try:
            model(input_ids=ids)
        finally:
            handle.remove()

    if controller is None:
        forward()
    else:
        with controller.hooks(model):
            forward()
    return seen["h"]


def test_direction_adds_and_projects_only_while_active(tiny_llama, char_tokenizer, tmp_path):
    r = difference_of_means(tiny_llama, char_tokenizer, ["bad one", "bad two"], ["good"], layer=1)
    assert r.shape == (32,)
    ids = torch.tensor([[5, 6, 7]])
    plain = _block_output(tiny_llama, ids)
    added = _block_output(tiny_llama, ids, DirectionController(r, layer=1, alpha=2.0))
    assert torch.allclose(added, plain + 2.0 * r, atol=1e-6)
    projected = _block_output(tiny_llama, ids, DirectionController(r, layer=1, mode="project"))
    assert torch.allclose(projected @ (r / r.norm()), torch.zeros(1, 3), atol=1e-6)
    assert not torch.allclose(projected, plain, atol=1e-6)
    assert torch.equal(_block_output(tiny_llama, ids), plain)  # hooks removed on exit
    save_direction(tmp_path / "dir", r, layer=1)
    loaded = load_direction(tmp_path / "dir", alpha=0.5)
    assert loaded.layer == 1 and torch.equal(loaded.direction, r) and loaded.alpha == 0.5


def test_bad_directions(tiny_llama, tmp_path):
    with pytest.raises(InputError, match="finite 1-d"):
        DirectionController(torch.tensor([float("nan"), 1.0]), layer=1)
    with pytest.raises(InputError, match="hidden size is 32"):
        with DirectionController(torch.ones(8), layer=1).hooks(tiny_llama):
            pass
    with pytest.raises(InputError, match="no direction.json"):
        load_direction(tmp_path)
