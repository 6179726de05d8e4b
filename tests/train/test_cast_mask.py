import torch

from train.cast.heads import head_slices
from train.cast.mask import frozen_heads


def test_masked_heads_do_not_change_under_adamw(tiny_llama):
    model = tiny_llama
    frozen = [s for s in head_slices(model) if (s.layer, s.head) == (0, 1)]
    params = dict(model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    ids = torch.randint(0, 100, (2, 8))
    with frozen_heads(model, frozen) as after_backward:
        for _ in range(3):
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            after_backward(model)
            opt.step()
            opt.zero_grad()
    for s in frozen:
        assert torch.equal(params[s.name].narrow(s.dim, s.start, s.stop - s.start),
                           before[s.name].narrow(s.dim, s.start, s.stop - s.start))
    q = frozen[0].name
    assert not torch.equal(params[q], before[q])  # other heads of the same matrix did train
