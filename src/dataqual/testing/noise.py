"""Unstructured random images: sparse uniform noise, distinct with overwhelming probability.

For readers and writers, where only the bytes matter. :func:`~dataqual.testing.fake.fake_dataset`
makes class-structured images with planted defects instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["random_data", "random_images"]


def random_images(
    n: int, shape: tuple[int, int] = (28, 28), seed: int = 0, ink: float = 0.4
) -> np.ndarray:
    """``n`` random uint8 images: about ``ink`` of the pixels are random values 1..255 on a
    zero background (MNIST-like sparsity)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 256, (n, *shape), dtype=np.uint8)
    return np.where(rng.random((n, *shape)) < ink, values, 0).astype(np.uint8)


def random_data(
    seed: int = 0, sizes: Mapping[str, int] | None = None, shape: tuple[int, int] = (28, 28)
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random images (about 40 % of pixels inked, values 0..255) and uint8 labels 0..9 per
    split; ``sizes`` defaults to 45 train and 13 test rows."""
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, n in (sizes or {"train": 45, "test": 13}).items():
        x = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        x[rng.random(x.shape) < 0.6] = 0
        out[split] = (x, rng.integers(0, 10, n).astype(np.uint8))
    return out
