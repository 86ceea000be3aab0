"""The in-memory types every reader produces and every later layer consumes.

A source is read as a stream of :class:`ImageBatch` chunks, one split at a time, so that
no stage needs the whole dataset in memory; a chunk is plain arrays, so it can be handed
to another thread or process as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "CHUNK_PIXEL_BYTES",
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_MAX_EXPANSION",
    "DEFAULT_MAX_IMAGE_SIDE",
    "EXPANSION_FLOOR_BYTES",
    "MISSING_LABEL",
    "ImageBatch",
    "ImageSource",
    "SplitInfo",
    "chunk_rows",
    "position_ids",
]

#: Rows per chunk: large enough for vectorised work, small enough to bound memory.
DEFAULT_BATCH_ROWS = 16_384

#: Pixel bytes per chunk: MNIST's 16,384 rows of 28x28 (12.8 MB). Larger images get fewer
#: rows per chunk (:func:`chunk_rows`), so a chunk's memory does not grow with image size.
CHUNK_PIXEL_BYTES = DEFAULT_BATCH_ROWS * 28 * 28

#: Largest image height or width a run accepts by default (``--max-image-side``): 9x MNIST's
#: side, and small enough that one chunk of images and the profile's per-image work stay
#: bounded on a laptop. Larger images are refused before anything is allocated.
DEFAULT_MAX_IMAGE_SIDE = 256

#: Most bytes a compressed source may expand to per compressed byte (``--max-expansion``)
#: once it expands past :data:`EXPANSION_FLOOR_BYTES`. Real datasets expand 2-8x (MNIST's
#: IDX gzip 4.7x, Fashion-MNIST's 1.8x); a million blank images in a 747 KB npz expand
#: 1,050x. At 16x, a 10 MB file holds at most ~200,000 MNIST-size images, which a run handles
#: in well under 1.5 GB.
DEFAULT_MAX_EXPANSION = 16.0
#: Sources that expand to less than this are never refused for their expansion.
EXPANSION_FLOOR_BYTES = 64 << 20

#: Label value for a record whose label is absent or unreadable.
MISSING_LABEL = -1

#: Per-row defect counters a reader may attach (see :attr:`ImageBatch.defects`).
DEFECT_NAMES = (
    "missing_pixels",  # empty, NaN or non-numeric pixel values (filled with 0)
    "pixels_out_of_range",  # values < 0, > 255 or non-integer (clipped/rounded)
    "unreadable",  # the record could not be decoded at all (image is all zeros)
    "wrong_shape",  # the image had another size (resized to the dataset shape)
    "wrong_mode",  # the image was not 8-bit grayscale (converted)
    "rescaled",  # values came in another range (float 0..1, 16-bit) and were scaled to 0..255
    "reoriented",  # the file's EXIF orientation was applied (rotated/flipped upright)
    "from_alpha",  # the image was drawn in the alpha channel only; ink taken from alpha
)


@dataclass(frozen=True)
class ImageBatch:
    """A chunk of one split: ``images[i]`` has label ``labels[i]`` and id ``ids[i]``.

    ``images`` is uint8 (n, H, W), row-major. ``labels`` is int64 with
    :data:`MISSING_LABEL` for a missing label. ``defects`` maps a defect name to a per-row
    int32 count for readers whose source can hold values a uint8 image cannot (CSV text,
    PNG files of another size, ...); ``raw_min``/``raw_max`` are the source values before
    clipping, when they differ from the image's.
    """

    split: str
    ids: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    positions: np.ndarray
    defects: Mapping[str, np.ndarray] = field(default_factory=dict)
    raw_min: np.ndarray | None = None
    raw_max: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise TypeError(
                f"images must be uint8 (n, H, W), got {self.images.dtype} {self.images.shape}"
            )
        for name, arr in (
            ("ids", self.ids),
            ("labels", self.labels),
            ("positions", self.positions),
        ):
            if len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} rows, images has {n}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.images.shape[1]), int(self.images.shape[2]))

    def take(self, mask_or_index: np.ndarray) -> ImageBatch:
        """Rows selected by a boolean mask or index array (copies)."""
        return self._select(mask_or_index)

    def rows(self, start: int, stop: int) -> ImageBatch:
        """Rows ``start..stop-1`` (views, no copy)."""
        return self._select(slice(start, stop))

    def _select(self, pick: np.ndarray | slice) -> ImageBatch:
        return ImageBatch(
            split=self.split,
            ids=self.ids[pick],
            labels=self.labels[pick],
            images=self.images[pick],
            positions=self.positions[pick],
            defects={k: v[pick] for k, v in self.defects.items()},
            raw_min=None if self.raw_min is None else self.raw_min[pick],
            raw_max=None if self.raw_max is None else self.raw_max[pick],
        )


@dataclass(frozen=True)
class SplitInfo:
    """What a source says about one split before it is read."""

    name: str
    declared_rows: int | None
    files: tuple[Path, ...] = ()


@runtime_checkable
class ImageSource(Protocol):
    """A readable dataset: splits, their shape, and a re-iterable stream of chunks."""

    @property
    def description(self) -> str: ...

    @property
    def shape(self) -> tuple[int, int]: ...

    def splits(self) -> list[SplitInfo]: ...

    def files(self) -> list[Path]: ...

    def labels(self, split: str) -> np.ndarray:
        """All labels of ``split`` (int64) in stream order, without decoding images where
        the source can."""
        ...

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]: ...


def chunk_rows(shape: tuple[int, int], rows: int = DEFAULT_BATCH_ROWS) -> int:
    """Rows per chunk for images of ``shape``: at most ``rows``, and at most
    :data:`CHUNK_PIXEL_BYTES` of pixels (at least one row)."""
    return max(1, min(rows, CHUNK_PIXEL_BYTES // max(1, shape[0] * shape[1])))


def position_ids(split: str, start: int, stop: int) -> np.ndarray:
    """Stable ids ``<split>/<position>`` for records ``start..stop-1`` of a split."""
    return np.char.add(f"{split}/", np.arange(start, stop).astype(str))
