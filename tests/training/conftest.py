"""Shared fixtures for the training tests."""

from __future__ import annotations

import pytest

from tests.training.synthetic import write_npz


@pytest.fixture(scope="module")
def data_npz(tmp_path_factory):
    """A small synthetic .npz dataset of harmonic tones, one per test module."""
    return write_npz(tmp_path_factory.mktemp("data"))
