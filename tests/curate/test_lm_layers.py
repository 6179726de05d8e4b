"""Decoder-block access: the right ModuleList for head, bare and wrapped models, in hidden_states order."""

from __future__ import annotations

import pytest
import torch

from curate.errors import ConfigError
from curate.lm.layers import decoder_layers, final_norm, num_layers


@pytest.fixture
def tiny_gpt2():
    """A 2-layer GPT-2 (absolute position embeddings, blocks under transformer.h)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=128, n_positions=64)).eval()


class _Wrapper(torch.nn.Module):
    """What peft's PeftModel looks like from outside: the model under base_model.model, get_base_model()."""

    def __init__(self, model):
        super().__init__()
        self.base_model = torch.nn.Module()
        self.base_model.model = model

    def get_base_model(self):
        return self.base_model.model


def test_head_and_bare_models(tiny_llama, tiny_gpt2):
    assert decoder_layers(tiny_llama) is tiny_llama.model.layers
    assert decoder_layers(tiny_llama.model) is tiny_llama.model.layers
    assert decoder_layers(tiny_gpt2) is tiny_gpt2.transformer.h
    assert decoder_layers(tiny_gpt2.transformer) is tiny_gpt2.transformer.h
    assert num_layers(tiny_llama) == num_layers(tiny_gpt2) == 2
    assert final_norm(tiny_llama) is tiny_llama.model.norm and final_norm(tiny_gpt2) is tiny_gpt2.transformer.ln_f


@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_gpt2"])
def test_blocks_are_in_hidden_states_order(arch, request):
    """Block 0's input is hidden_states[0], block i's output hidden_states[i + 1], the norm's the last one."""
    model = request.getfixturevalue(arch)
    seen: dict[str, torch.Tensor] = {}
    blocks = decoder_layers(model)
    handles = [blocks[0].register_forward_pre_hook(
        lambda _m, args, kwargs: seen.__setitem__("in", args[0] if args else kwargs["hidden_states"]),
        with_kwargs=True)]
    for i, block in enumerate(blocks[:-1]):
        handles.append(block.register_forward_hook(
            lambda _m, _a, out, i=i: seen.__setitem__(i + 1, out[0] if isinstance(out, tuple) else out)))
    handles.append(final_norm(model).register_forward_hook(lambda _m, _a, out: seen.__setitem__("norm", out)))
    ids = torch.tensor([[5, 17, 9, 40, 3]])
    try:
        with torch.no_grad():
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
    finally:
        for handle in handles:
            handle.remove()
    assert len(hidden) == num_layers(model) + 1
    torch.testing.assert_close(seen["in"], hidden[0])
    torch.testing.assert_close(seen[1], hidden[1])
    torch.testing.assert_close(seen["norm"], hidden[-1])


def test_wrapped_model(tiny_llama, tiny_gpt2):
    assert decoder_layers(_Wrapper(tiny_llama)) is tiny_llama.model.layers
    assert num_layers(_Wrapper(tiny_gpt2)) == 2 and final_norm(_Wrapper(tiny_gpt2)) is tiny_gpt2.transformer.ln_f


def test_peft_model(tiny_llama):
    peft = pytest.importorskip("peft")
    wrapped = peft.get_peft_model(tiny_llama, peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    assert decoder_layers(wrapped) is tiny_llama.model.layers and num_layers(wrapped) == 2


def test_model_without_blocks():
    with pytest.raises(ConfigError, match=r"Linear has no decoder blocks where safecurate looks \(\.model\.layers"):
        decoder_layers(torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="Linear has no decoder blocks"):
        num_layers(torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match=r"Linear has no final norm where safecurate looks \(\.model\.norm"):
        final_norm(torch.nn.Linear(2, 2))
