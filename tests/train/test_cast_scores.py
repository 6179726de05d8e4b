import numpy as np
import pytest
import torch

from train.cast.scores import combine, conflict


def test_conflict_identical_and_opposite():
    g = torch.randn(5, 7)
    assert conflict(g, g) == pytest.approx(0.0, abs=1e-9)
    assert conflict(g, -g) == pytest.approx(2.0, abs=1e-9)
    assert conflict(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])) == pytest.approx(1.0)


def test_combine_product_orders_by_both():
    score = combine(np.array([0.1, 0.9, 0.5]), np.array([0.2, 0.8, 0.1]))
    assert int(np.argmax(score)) == 1
    with pytest.raises(ValueError, match="how='max'"):
        combine(np.ones(2), np.ones(2), how="max")
