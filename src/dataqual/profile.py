"""Profile: one vectorised pass that turns images into a per-image table.

Great Expectations validates this table, not 784 pixel columns (0.14 s against 51 s on
MNIST). Each statistic is computed on whole chunks with integer arithmetic where possible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataqual.imageset import DEFECT_NAMES, ImageBatch
from dataqual.streams import WORKERS, ordered_map

__all__ = [
    "IMAGE_STATS",
    "INK_THRESHOLD",
    "PROFILE_COLUMNS",
    "Profile",
    "content_hash",
    "profile_batch",
    "profile_batches",
    "thumbnails",
]

#: A pixel counts as ink above this value (of 255); MNIST strokes are near 255, background 0.
INK_THRESHOLD = 127
#: Pixels strictly between these values are mid-tones (antialiased edges, noise).
MIDTONE_RANGE = (32, 223)
#: Side of the square thumbnail kept per image for near-duplicate and label audits.
THUMB_SIDE = 14

#: The per-image statistics that describe an image's appearance (drift compares these).
IMAGE_STATS = (
    "mean",
    "std",
    "ink_fraction",
    "midtone_fraction",
    "border_mean",
    "com_row",
    "com_col",
    "bbox_height",
    "bbox_width",
)

PROFILE_COLUMNS = (
    "id",
    "split",
    "position",
    "label",
    "content_hash",
    "pixel_min",
    "pixel_max",
    *IMAGE_STATS,
    *(f"defect_{name}" for name in DEFECT_NAMES),
)

_MIX = np.uint64(0x9E3779B97F4A7C15)
_HEX = np.array([f"{i:02x}" for i in range(256)], dtype="S2").view("S1").reshape(256, 2)


def content_hash(images: np.ndarray) -> np.ndarray:
    """A 128-bit content digest per image as 32-char hex strings, vectorised.

    Each 64-bit word of the image is mixed with its position (splitmix64 finaliser); the
    digest is the xor and the wrapping sum of the mixed words. Equal images get equal
    digests; an accidental collision between different images is vanishingly unlikely.
    """
    n = len(images)
    pixels = int(np.prod(images.shape[1:]))  # not reshape(n, -1): that fails when n == 0
    flat = np.ascontiguousarray(images).reshape(n, pixels)
    pad = (-pixels) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros((n, pad), np.uint8)], axis=1)
    words = flat.view("<u8")
    with np.errstate(over="ignore"):
        x = words ^ (np.arange(1, words.shape[1] + 1, dtype=np.uint64) * _MIX)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(31)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(29)
        h1 = np.bitwise_xor.reduce(x, axis=1) if n else np.zeros(0, np.uint64)
        # The unpadded size: a 5x7 image must not hash like a 5x8 one ending in zeros.
        h2 = x.sum(axis=1, dtype=np.uint64) + np.uint64(pixels)
    raw = np.stack([h1, h2], axis=1).astype(">u8").view(np.uint8).reshape(n, 16)
    return _HEX[raw].reshape(n, 32).view("S32").ravel().astype("U32")


def thumbnails(images: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """Block-mean downsample to ``side`` x ``side`` uint8, flattened: a compact embedding."""
    n, h, w = images.shape
    fh, fw = max(1, h // side), max(1, w // side)
    hh, ww = fh * side, fw * side
    img = images
    if hh > h or ww > w:
        img = np.pad(img, ((0, 0), (0, max(0, hh - h)), (0, max(0, ww - w))))
    img = img[:, :hh, :ww]
    acc = np.zeros((n, side, side), np.uint32)
    for i in range(fh):  # fh * fw strided slices: whole-array adds, no per-image loop
        for j in range(fw):
            acc += img[:, i::fh, j::fw]
    return (acc // (fh * fw)).astype(np.uint8).reshape(n, side * side)


def _reducers(h: int, w: int) -> np.ndarray:
    """Indicator matrix (h*w, h + w + 2): row sums, column sums, border sum, total."""
    r = np.repeat(np.eye(h, dtype=np.float32), w, axis=0)
    c = np.tile(np.eye(w, dtype=np.float32), (h, 1))
    border = np.zeros((h, w), np.float32)
    border[[0, -1], :] = 1
    border[:, [0, -1]] = 1
    return np.concatenate([r, c, border.reshape(-1, 1), np.ones((h * w, 1), np.float32)], axis=1)


def profile_batch(batch: ImageBatch) -> pd.DataFrame:
    """Per-image statistics of one chunk, in :data:`PROFILE_COLUMNS` order.

    Sums come from one float32 matrix product with indicator columns (exact: every partial
    sum is an integer below 2**24), which is several times faster than axis reductions.
    """
    n = len(batch)
    h, w = batch.shape
    pixels = h * w
    flat = batch.images.reshape(n, pixels)
    red = _reducers(h, w)
    f32 = flat.astype(np.float32)
    sums = f32 @ red  # (n, h + w + 2)
    ink_sums = (flat > INK_THRESHOLD).astype(np.float32) @ red
    total = sums[:, -1].astype(np.float64)
    sq = np.einsum("ij,ij->i", f32, f32).astype(np.float64)  # float32 sums: ~1e-7 relative
    mean = total / pixels
    std = np.sqrt(np.maximum(sq / pixels - mean**2, 0.0))
    has_ink = total > 0
    safe_total = np.where(has_ink, total, 1.0)
    com_row = np.where(has_ink, sums[:, :h] @ np.arange(h) / safe_total, (h - 1) / 2)
    com_col = np.where(has_ink, sums[:, h : h + w] @ np.arange(w) / safe_total, (w - 1) / 2)
    rows_ink = ink_sums[:, :h] > 0
    cols_ink = ink_sums[:, h : h + w] > 0
    bbox_h = np.where(
        rows_ink.any(1), h - np.argmax(rows_ink[:, ::-1], 1) - np.argmax(rows_ink, 1), 0
    )
    bbox_w = np.where(
        cols_ink.any(1), w - np.argmax(cols_ink[:, ::-1], 1) - np.argmax(cols_ink, 1), 0
    )
    midtone = np.count_nonzero((flat > MIDTONE_RANGE[0]) & (flat < MIDTONE_RANGE[1]), axis=1)
    border_pixels = float(red[:, -2].sum())  # 2 * (h + w) - 4, or h * w when h or w is 1
    pmin = flat.min(axis=1).astype(np.float32) if n else np.zeros(0, np.float32)
    pmax = flat.max(axis=1).astype(np.float32) if n else np.zeros(0, np.float32)
    if batch.raw_min is not None:
        pmin = np.fmin(pmin, batch.raw_min.astype(np.float32))
    if batch.raw_max is not None:
        pmax = np.fmax(pmax, batch.raw_max.astype(np.float32))
    labels = pd.array(batch.labels, dtype="Int64")
    labels[batch.labels < 0] = pd.NA
    data: dict[str, object] = {
        "id": pd.array(batch.ids, dtype="string"),
        "split": pd.array(np.full(n, batch.split, dtype=object), dtype="string"),
        "position": batch.positions.astype(np.int64),
        "label": labels,
        "content_hash": pd.array(content_hash(batch.images), dtype="string"),
        "pixel_min": pmin,
        "pixel_max": pmax,
        "mean": mean.astype(np.float32),
        "std": std.astype(np.float32),
        "ink_fraction": (ink_sums[:, -1] / pixels).astype(np.float32),
        "midtone_fraction": (midtone / pixels).astype(np.float32),
        "border_mean": (sums[:, -2] / border_pixels).astype(np.float32),
        "com_row": (com_row - (h - 1) / 2).astype(np.float32),
        "com_col": (com_col - (w - 1) / 2).astype(np.float32),
        "bbox_height": bbox_h.astype(np.int32),
        "bbox_width": bbox_w.astype(np.int32),
    }
    for name in DEFECT_NAMES:
        data[f"defect_{name}"] = np.asarray(
            batch.defects.get(name, np.zeros(n, np.int32)), np.int32
        )
    return pd.DataFrame(data, columns=list(PROFILE_COLUMNS))


@dataclass
class Profile:
    """The per-image table of a whole dataset plus a thumbnail embedding aligned to its rows.

    ``com_row``/``com_col`` are the centre of mass relative to the image centre, in pixels.
    """

    table: pd.DataFrame
    thumbs: np.ndarray
    shape: tuple[int, int]

    def split(self, name: str) -> pd.DataFrame:
        return self.table[self.table["split"] == name]

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(self.table["split"].tolist()))


def profile_batches(batches: Iterable[ImageBatch], shape: tuple[int, int]) -> Profile:
    """Profile a stream of chunks; only the table and thumbnails are kept, never the images."""
    tables: list[pd.DataFrame] = []
    thumbs: list[np.ndarray] = []
    for table, thumb in ordered_map(_profile_and_thumbnails, batches, WORKERS):
        tables.append(table)
        thumbs.append(thumb)
    if not tables:
        return Profile(
            table=profile_batch(_empty_batch(shape)),
            thumbs=np.zeros((0, THUMB_SIDE**2), np.uint8),
            shape=shape,
        )
    return Profile(
        table=pd.concat(tables, ignore_index=True), thumbs=np.concatenate(thumbs), shape=shape
    )


def _profile_and_thumbnails(batch: ImageBatch) -> tuple[pd.DataFrame, np.ndarray]:
    return profile_batch(batch), thumbnails(batch.images)


def _empty_batch(shape: tuple[int, int]) -> ImageBatch:
    return ImageBatch(
        split="",
        ids=np.array([], dtype=str),
        labels=np.zeros(0, np.int64),
        images=np.zeros((0, *shape), np.uint8),
        positions=np.zeros(0, np.int64),
    )
