"""SAE steering: the hook edits hidden_states[layer] by z + ĉ W_dec and plugs into curate.evaluation."""

from __future__ import annotations

import polars as pl
import pytest
import torch

from curate.errors import ConfigError, InputError
from curate.evaluation.controls import Controller
from train.sae.model import SAEShape, SparseAutoencoder, save_sae
from train.sae.steer import layer_module, load_sae_controller


def _save(folder, labels: list[str], layer: int = 1, seed: int = 0):
    torch.manual_seed(seed)
    sae = SparseAutoencoder(SAEShape(32, 64, k=4, layer=layer), seed=seed)
    save_sae(sae, folder)
    pl.DataFrame({"atom": list(range(64)), "label": labels}).write_parquet(folder / "annotations.parquet")
    return sae


def _input_of_next_block(model, layer: int, run):
    """hidden_states[layer] as the next decoder block receives it."""
    seen = {}

    def grab(module, args, kwargs):
        seen["h"] = (args[0] if args else kwargs["hidden_states"]).detach().clone()

    handle = model.model.layers[layer].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        run()
    finally:
        handle.remove()
    return seen["h"]


def test_hook_removes_undesirable_atoms_and_adds_desirable(tiny_llama, tmp_path):
    labels = ["undesirable"] * 8 + ["desirable"] * 4 + ["neutral"] * 52
    sae = _save(tmp_path, labels)
    controller = load_sae_controller(tmp_path, gamma=0.5)
    assert isinstance(controller, Controller)
    ids = torch.randint(3, 128, (2, 7))
    mask = torch.ones_like(ids)
    plain = _input_of_next_block(tiny_llama, 1, lambda: tiny_llama(input_ids=ids, attention_mask=mask))

    def steered_run():
        embeds, emask = controller.embed_inputs(tiny_llama, ids, mask)
        with controller.hooks(tiny_llama):
            tiny_llama(inputs_embeds=embeds, attention_mask=emask)

    steered = _input_of_next_block(tiny_llama, 1, steered_run)
    codes = sae.eval().encode(plain.reshape(-1, 32)).dense(64).detach()
    change = torch.zeros_like(codes)
    change[:, :8] = -codes[:, :8]
    change[:, 8:12] = 0.5
    expected = plain + (change @ sae.W_dec.detach()).reshape(plain.shape)
    assert torch.allclose(steered, expected, atol=1e-5)
    assert codes[:, :8].abs().sum() > 0 and not torch.allclose(steered, plain)
    after = _input_of_next_block(tiny_llama, 1, lambda: tiny_llama(input_ids=ids, attention_mask=mask))
    assert torch.equal(after, plain)  # the hook is gone after the context


def test_all_neutral_is_the_identity(tiny_llama, tmp_path):
    _save(tmp_path, ["neutral"] * 64)
    controller = load_sae_controller(tmp_path)
    ids = torch.randint(3, 128, (1, 9))
    mask = torch.ones_like(ids)
    base = tiny_llama(input_ids=ids, attention_mask=mask).logits
    embeds, emask = controller.embed_inputs(tiny_llama, ids, mask)
    assert torch.equal(embeds, tiny_llama.get_input_embeddings()(ids)) and torch.equal(emask, mask)
    with controller.hooks(tiny_llama):
        steered = tiny_llama(inputs_embeds=embeds, attention_mask=emask).logits
    assert torch.allclose(base, steered, atol=1e-6) and controller.calls == 1


def test_steering_changes_eval_nll_and_generation(tiny_llama, char_tokenizer, tmp_path):
    from curate.lm.generation import generate
    from curate.lm.likelihood import response_nll

    _save(tmp_path, ["undesirable"] * 32 + ["neutral"] * 32, layer=2)  # layer 2 = final norm output
    controller = load_sae_controller(tmp_path)
    prompts, answers = ["hello there", "how are you"], ["fine thanks", "good"]
    base = response_nll(tiny_llama, char_tokenizer, prompts, answers, batch_size=2)
    steered = response_nll(tiny_llama, char_tokenizer, prompts, answers, controller=controller, batch_size=2)
    assert base.shape == steered.shape and not torch.allclose(torch.as_tensor(base), torch.as_tensor(steered))
    out = generate(tiny_llama, char_tokenizer, prompts, controller=controller, max_new_tokens=3, batch_size=2,
                   progress=False)
    assert len(out) == 2 and controller.calls > 1


def test_layer_module_resolution(tiny_llama):
    assert layer_module(tiny_llama, 0) is tiny_llama.model.embed_tokens
    assert layer_module(tiny_llama, 1) is tiny_llama.model.layers[0]
    assert layer_module(tiny_llama, 2) is tiny_llama.model.norm
    with pytest.raises(InputError, match="layer 5 but the model has 2 layers"):
        layer_module(tiny_llama, 5)


def test_loader_errors(tmp_path):
    sae = SparseAutoencoder(SAEShape(32, 64, k=4, layer=1))
    save_sae(sae, tmp_path)
    with pytest.raises(InputError, match="annotations.parquet not found"):
        load_sae_controller(tmp_path)
    pl.DataFrame({"atom": [0, 1], "label": ["neutral"] * 2}).write_parquet(tmp_path / "annotations.parquet")
    with pytest.raises(InputError, match="labels 2 atoms but the SAE has 64"):
        load_sae_controller(tmp_path)
    with pytest.raises(ConfigError, match="unknown"):
        load_sae_controller(tmp_path, alpha=2)
    with pytest.raises(InputError, match="sae.safetensors not found"):
        load_sae_controller(tmp_path / "missing")


def test_sinks_are_left_alone_and_steering_json_gives_defaults(tmp_path):
    import json

    _save(tmp_path, ["undesirable"] * 64)
    (tmp_path / "steering.json").write_text(json.dumps({"gamma": 0.25, "sink_factor": 5.0}))
    controller = load_sae_controller(tmp_path)
    assert controller.gamma == 0.25 and controller.sink_factor == 5.0
    assert load_sae_controller(tmp_path, gamma=1.0).gamma == 1.0
    hidden = torch.randn(1, 6, 32)
    hidden[0, 0] *= 100.0  # an attention-sink-like outlier
    steered = controller.steer(hidden)
    assert torch.equal(steered[0, 0], hidden[0, 0])
    assert not torch.allclose(steered[0, 1:], hidden[0, 1:])


def test_eval_steer_dispatches_sae_folders(tmp_path):
    from curate.evaluation.controls import load_controller
    from train.sae.steer import SAEController

    _save(tmp_path, ["undesirable"] * 4 + ["neutral"] * 60)
    controller = load_controller("steer", tmp_path)
    assert isinstance(controller, SAEController) and int(controller.undesirable.sum()) == 4
