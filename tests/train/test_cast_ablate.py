import torch

from train.cast.ablate import ablate_head


def test_ablating_a_zeroed_head_changes_nothing(tiny_llama):
    model = tiny_llama.eval()
    hd = model.config.hidden_size // model.config.num_attention_heads
    ids = torch.randint(0, 100, (2, 6))
    with torch.no_grad():
        model.model.layers[1].self_attn.o_proj.weight[:, hd:2 * hd] = 0  # head 1 already silent
        base = model(input_ids=ids, labels=ids).loss
        with ablate_head(model, 1, 1):
            same = model(input_ids=ids, labels=ids).loss
        with ablate_head(model, 1, 0):
            other = model(input_ids=ids, labels=ids).loss
    assert torch.allclose(base, same, atol=1e-6)
    assert not torch.allclose(base, other, atol=1e-6)
