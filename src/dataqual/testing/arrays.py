"""The in-memory form every writer takes: split -> (images, labels), checked and made uint8."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["Data", "as_images", "as_labels"]

#: Split name -> (images uint8 (n, H, W), labels (n,)), in the order splits are written.
Data = Mapping[str, tuple[np.ndarray, np.ndarray]]


def _as_uint8(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as uint8 when every value is an integer in 0..255, else ValueError."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "biu":
        raise ValueError(f"{what} must hold integers 0..255, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"{what} must hold integers 0..255, got {array.min()}..{array.max()}")
    return array.astype(np.uint8)


def as_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    """``images`` as uint8 ``(n, H, W)``; ValueError for another rank or values past 0..255."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"{what} must be (n, H, W), got shape {images.shape}")
    return _as_uint8(images, what)


def as_labels(labels: np.ndarray, n: int, what: str = "labels") -> np.ndarray:
    """``labels`` as uint8 ``(n,)``; ValueError for another shape or values past 0..255."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{what} must be ({n},) to match the images, got {labels.shape}")
    return _as_uint8(labels, what)
