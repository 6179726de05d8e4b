import pytest
from torch import nn

from train.cast.heads import head_slices


def test_slices_gqa(tiny_llama):
    slices = head_slices(tiny_llama)
    cfg = tiny_llama.config
    hd = cfg.hidden_size // cfg.num_attention_heads
    per_group = cfg.num_attention_heads // cfg.num_key_value_heads
    assert {(s.layer, s.head) for s in slices} == {(layer, h) for layer in range(cfg.num_hidden_layers)
                                                   for h in range(cfg.num_attention_heads)}
    params = dict(tiny_llama.named_parameters())
    for s in slices:
        assert s.name in params and s.stop <= params[s.name].shape[s.dim]
        if "q_proj" in s.name or "o_proj" in s.name:
            assert (s.start, s.dim) == (s.head * hd, 0 if "q_proj" in s.name else 1)
        else:
            assert s.start == (s.head // per_group) * hd and s.dim == 0


def test_no_standard_attention():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Module()
            self.model.layers = nn.ModuleList([nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="q_proj/k_proj/v_proj/o_proj"):
        head_slices(_with_cfg(M()))


def _with_cfg(m):
    m.config = type("C", (), {"num_attention_heads": 2, "num_key_value_heads": 1, "hidden_size": 4})()
    return m
