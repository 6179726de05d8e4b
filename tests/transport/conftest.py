"""Transport tests are many tiny tensor ops: one torch thread avoids oversubscribing the shared cores."""

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
