"""Fixtures for the model tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """torch on one intra-op thread for the test: tiny models pay more for thread start-up and spinning on
    a shared 2-core machine than they save."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
