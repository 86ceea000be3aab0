"""Synthetic datasets for the analyser tests: separable classes, no accidental near copies.

Each class is a fixed pattern of 7x7 ink cells on a 4x4 grid (patterns differ in at least 6
cells); each image gives every ink pixel a random value 100..255, so two images are far apart
(thumbnail distance > 0.1) and all images of a class about equally so, while the classes stay
trivially separable. Import as ``from tests.checks import synthetic_images, make_profile``.
"""

from __future__ import annotations

import numpy as np

from dataqual.imageset import ImageBatch, position_ids
from dataqual.profile import Profile, profile_batches

__all__ = ["class_patterns", "make_profile", "noisy_copy", "synthetic_images"]

CELL = 7
GRID = 4


def class_patterns(n_classes: int = 10, cells: int = 6, seed: int = 0) -> np.ndarray:
    """(n_classes, 16) boolean cell patterns, pairwise at least 6 cells apart."""
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    while len(chosen) < n_classes:
        pattern = np.zeros(GRID * GRID, bool)
        pattern[rng.choice(GRID * GRID, cells, replace=False)] = True
        if all((pattern != other).sum() >= 6 for other in chosen):
            chosen.append(pattern)
    return np.array(chosen)


def synthetic_images(labels: np.ndarray, seed: int = 1, n_classes: int = 10) -> np.ndarray:
    """uint8 (n, 28, 28) images of the given classes."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    cells = class_patterns(n_classes)[labels]
    mask = cells.reshape(n, GRID, GRID).repeat(CELL, axis=1).repeat(CELL, axis=2)
    values = rng.integers(100, 256, (n, GRID * CELL, GRID * CELL))
    return np.where(mask, values, 0).astype(np.uint8)


def noisy_copy(
    image: np.ndarray, sigma: float = 3.0, scale: float = 1.0, seed: int = 2
) -> np.ndarray:
    """``image`` with its contrast scaled and Gaussian noise added on the ink: a near copy."""
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float64) * scale + rng.normal(0, sigma, image.shape) * (image > 0)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def make_profile(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> Profile:
    """Profile of {split: (images, labels)}; ids are ``<split>/<position>``, -1 = no label."""
    batches = [
        ImageBatch(
            split=name,
            ids=position_ids(name, 0, len(images)),
            labels=np.asarray(labels, np.int64),
            images=images,
            positions=np.arange(len(images)),
        )
        for name, (images, labels) in splits.items()
    ]
    return profile_batches(batches, (GRID * CELL, GRID * CELL))
