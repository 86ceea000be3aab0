"""Keras-style ``.npz`` writer: ``x_<split>`` and ``y_<split>`` per split, never pickled."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataqual.testing.arrays import Data

__all__ = ["write_npz"]


def write_npz(
    path: str | Path, data: Data, compressed: bool = False, channel: bool = False
) -> Path:
    """An archive of ``x_<split>`` (``(n, H, W)``, or ``(n, H, W, 1)`` when ``channel``) and
    ``y_<split>`` arrays, as :class:`~dataqual.ingest.npz.NpzSource` reads; the arrays keep
    their dtype (a float or int64 image tests the reader's cleaning). Object arrays are
    refused, so nothing is ever pickled."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for split, (x, y) in data.items():
        arrays[f"x_{split}"] = np.asarray(x)[..., None] if channel else np.asarray(x)
        arrays[f"y_{split}"] = np.asarray(y)
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise TypeError(f"{name} is an object array; only numeric arrays are written")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return path
