"""A toy repair registered from outside the package: ``flip_lr`` mirrors each image.

Loaded as a plugin (``dataqual --plugin tests.recipes.toy_repair ...``); a suite then names
it in an expectation's ``meta.repair`` with ``"action": "repair"``.
"""

from __future__ import annotations

from dataclasses import replace

from dataqual.imageset import ImageBatch
from dataqual.repairs import register_repair

__all__ = ["flip_lr"]


@register_repair("flip_lr")
def flip_lr(batch: ImageBatch) -> ImageBatch:
    """The rows mirrored left to right."""
    return replace(batch, images=batch.images[:, :, ::-1].copy())
