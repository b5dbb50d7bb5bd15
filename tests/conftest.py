"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator seeded with 0: every test that draws random numbers starts from the same state."""
    return torch.Generator().manual_seed(0)
