"""Fixtures for the ingest reader tests (the writers live in :mod:`.writers`)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dataqual.ingest.idx import IdxSource

from . import writers
from .writers import MNIST, Data


@pytest.fixture
def fmt() -> SimpleNamespace:
    """The writers and checks of :mod:`.writers`, as one namespace."""
    return SimpleNamespace(**{name: getattr(writers, name) for name in writers.__all__})


@pytest.fixture(scope="session")
def mnist_head() -> Data:
    """The first 5,000 train and 1,000 test images of the real MNIST files."""
    if not (MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {MNIST}")
    source = IdxSource.from_folder(MNIST)
    out: Data = {}
    for split, n in (("train", 5000), ("test", 1000)):
        batch = next(source.iter_batches(split, n))
        out[split] = (batch.images.copy(), batch.labels.astype(np.uint8))
    return out
