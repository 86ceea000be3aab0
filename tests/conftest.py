"""Shared fixtures: paths to the embedded sample and to the real datasets beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The embedded sample dataset (IDX, with planted defects)."""
    return REPO / "data" / "sample"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Real MNIST from ../shared/datasets; tests that need it fail loudly if it is missing."""
    path = SHARED / "mnist"
    if not path.is_dir():
        pytest.fail(f"real MNIST not found at {path} (../shared/datasets beside the repo)")
    return path
