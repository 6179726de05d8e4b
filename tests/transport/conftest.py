"""Transport tests are many tiny tensor ops: every one runs on a single torch thread (tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
