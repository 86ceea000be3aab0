"""Per-image pixel statistics of whole chunks: vectorised, integer arithmetic where possible.

Memory is bounded whatever the image size: callers work in row blocks of at most
``_BLOCK_BYTES`` pixel bytes (:func:`block_rows`; a 16,384-row MNIST chunk is one block),
so temporaries stay a few times that block, and large images take axis reductions instead
of the indicator matrix, whose (H*W) x (H+W+2) float32 size would be 1 GB at 512x512.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "INK_THRESHOLD",
    "MIDTONE_RANGE",
    "THUMB_SIDE",
    "block_rows",
    "content_hash",
    "pixel_stats",
    "thumbnails",
]

#: A pixel counts as ink above this value (of 255); MNIST strokes are near 255, background 0.
INK_THRESHOLD = 127
#: Pixels strictly between these values are mid-tones (antialiased edges, noise).
MIDTONE_RANGE = (32, 223)
#: Side of the square thumbnail kept per image for near-duplicate and label audits.
THUMB_SIDE = 14

#: Pixel bytes profiled at a time: temporaries (masks, hash words) are a few times this.
_BLOCK_BYTES = 16 * 2**20
#: float32 bytes converted at a time for the sums of squares of large images (cache-sized).
_FLOAT_BLOCK_BYTES = 4 * 2**20
#: Largest indicator matrix (bytes) for the one-product sums; 28x28 needs 182 KB.
_REDUCER_MAX_BYTES = 4 * 2**20
#: Thumbnail factors (fh * fw) up to which strided whole-array adds are used.
_STRIDED_MAX = 16

_MIX = np.uint64(0x9E3779B97F4A7C15)
_HEX = np.array([f"{i:02x}" for i in range(256)], dtype="S2").view("S1").reshape(256, 2)


def content_hash(images: np.ndarray) -> np.ndarray:
    """A 128-bit content digest per image as 32-char hex strings, vectorised.

    Each 64-bit word of the image is mixed with its position (splitmix64 finaliser); the
    digest is the xor and the wrapping sum of the mixed words. Equal images get equal
    digests; an accidental collision between different images is vanishingly unlikely.
    Rows are hashed in blocks of ``_BLOCK_BYTES`` so the mixed words stay small.
    """
    n = len(images)
    pixels = int(np.prod(images.shape[1:]))  # not reshape(n, -1): that fails when n == 0
    step = block_rows(pixels)
    if n > step:
        return np.concatenate(
            [content_hash(images[start : start + step]) for start in range(0, n, step)]
        )
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
    if fh * fw > _STRIDED_MAX:
        # Large images: one reshape-and-sum per row block (the strided adds below would take
        # fh * fw passes); the same floored block means, in bounded memory.
        step = block_rows(h * w)
        out = np.empty((n, side * side), np.uint8)
        for start in range(0, n, step):
            block = np.ascontiguousarray(images[start : start + step, :hh, :ww])
            sums = block.reshape(-1, side, fh, side, fw).sum(axis=(2, 4), dtype=np.uint32)
            out[start : start + step] = (sums // (fh * fw)).reshape(-1, side * side)
        return out
    img = images
    if hh > h or ww > w:
        img = np.pad(img, ((0, 0), (0, max(0, hh - h)), (0, max(0, ww - w))))
    img = img[:, :hh, :ww]
    acc = np.zeros((n, side, side), np.uint16 if fh * fw * 255 < 2**16 else np.uint32)
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


#: Rows converted to float32 at a time: the block stays in cache between the two products.
_SUM_BLOCK = 1024


def block_rows(pixels: int) -> int:
    """Rows of ``pixels`` bytes each in one block of at most ``_BLOCK_BYTES`` (at least 1)."""
    return max(1, _BLOCK_BYTES // max(1, pixels))


def _sums(flat: np.ndarray, red: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``flat @ red`` (float32, exact: every partial sum is an integer below 2**24) and the
    sum of squares per row (float64 from float32 products: ~1e-7 relative)."""
    n = len(flat)
    sums = np.empty((n, red.shape[1]), np.float32)
    sq = np.empty(n, np.float32)
    step = min(_SUM_BLOCK, max(1, _BLOCK_BYTES // (4 * max(1, flat.shape[1]))))
    for start in range(0, n, step):
        block = flat[start : start + step].astype(np.float32)
        np.matmul(block, red, out=sums[start : start + step])
        sq[start : start + step] = np.einsum("ij,ij->i", block, block)
    return sums, sq.astype(np.float64)


def _axis_sums(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The columns of ``flat @ _reducers(h, w)`` (float64, exact: integer reductions over the
    image axes, no (H*W)-sized matrix) and the sums of squares per image (float64)."""
    n, h, w = images.shape
    rows = images.sum(axis=2, dtype=np.uint32)
    cols = images.sum(axis=1, dtype=np.uint32)
    total = rows.sum(axis=1, dtype=np.uint64)
    border = rows[:, 0].astype(np.uint64) + cols[:, 0] + (rows[:, -1] if h > 1 else 0)
    border += cols[:, -1] if w > 1 else 0
    corners = images[:, 0, 0].astype(np.uint64) + (images[:, -1, 0] if h > 1 else 0)
    corners += images[:, 0, -1] if w > 1 else 0
    corners += images[:, -1, -1] if h > 1 and w > 1 else 0
    sq = np.empty(n, np.float64)
    step = max(1, _FLOAT_BLOCK_BYTES // (4 * max(1, h * w)))
    for start in range(0, n, step):  # per image row in float32 (exact up to 258 columns)
        part = images[start : start + step].astype(np.float32)
        sq[start : start + step] = np.einsum("ijk,ijk->ij", part, part).sum(1, dtype=np.float64)
    sums = np.concatenate(
        [rows, cols, (border - corners)[:, None], total[:, None]], axis=1, dtype=np.float64
    )
    return sums, sq


def _count(mask: np.ndarray) -> np.ndarray:
    """True values per row of a 2-D boolean array (an integer sum of its bytes: several
    times faster than ``count_nonzero`` along an axis)."""
    dtype = np.uint16 if mask.shape[1] < 2**16 else np.uint32
    return mask.view(np.uint8).sum(axis=1, dtype=dtype)


def _any_along(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows (n, h) and which columns (n, w) of each (h, w) boolean image hold a True.

    Whole-array ORs over the short axis, one slice at a time (NumPy's own reduction over a
    short axis of many images is several times slower); rows OR 4 or 8 pixels per word.
    """
    n, h, w = mask.shape
    if not (n and h and w):
        return np.zeros((n, h), bool), np.zeros((n, w), bool)
    cols = mask[:, 0, :].copy()
    for i in range(1, h):
        cols |= mask[:, i, :]
    word = next(
        (t for t in (np.uint64, np.uint32, np.uint16) if w % np.dtype(t).itemsize == 0), None
    )
    lanes = np.ascontiguousarray(mask).view(word) if word is not None else mask.view(np.uint8)
    acc = lanes[:, :, 0].copy()
    for k in range(1, lanes.shape[2]):
        acc |= lanes[:, :, k]
    return acc != 0, cols


def pixel_stats(
    images: np.ndarray, raw_min: np.ndarray | None = None, raw_max: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The numeric profile columns of one block of ``(n, h, w)`` uint8 images, float32 or
    int32, by column name (``raw_min``/``raw_max``: values seen before the reader clipped).

    Small images: sums come from one float32 matrix product with indicator columns (exact:
    every partial sum is an integer below 2**24), several times faster than axis reductions.
    Large images (indicator matrix over ``_REDUCER_MAX_BYTES``): integer axis reductions.
    """
    n, h, w = images.shape
    pixels = h * w
    flat = images.reshape(n, pixels)
    if pixels * (h + w + 2) * 4 <= _REDUCER_MAX_BYTES:
        sums, sq = _sums(flat, _reducers(h, w))
    else:
        sums, sq = _axis_sums(images)
    total = sums[:, -1].astype(np.float64)
    mean = total / pixels
    ink = images > INK_THRESHOLD
    # lo < p < hi as one unsigned compare: p - (lo + 1) wraps below zero to large values
    low, high = MIDTONE_RANGE
    midtone = _count(flat - np.uint8(low + 1) < np.uint8(high - low - 1))
    border_pixels = float(pixels - max(h - 2, 0) * max(w - 2, 0))  # 2 * (h + w) - 4, or h * w
    return {
        **_extremes(flat, raw_min, raw_max),
        "mean": mean.astype(np.float32),
        "std": np.sqrt(np.maximum(sq / pixels - mean**2, 0.0)).astype(np.float32),
        "ink_fraction": (_count(ink.reshape(n, pixels)) / pixels).astype(np.float32),
        "midtone_fraction": (midtone / pixels).astype(np.float32),
        "border_mean": (sums[:, -2] / border_pixels).astype(np.float32),
        **_geometry(sums, total, ink),
    }


def _extremes(
    flat: np.ndarray, raw_min: np.ndarray | None, raw_max: np.ndarray | None
) -> dict[str, np.ndarray]:
    """``pixel_min``/``pixel_max``, widened by the values the reader saw before clipping."""
    n = len(flat)
    pmin = flat.min(axis=1).astype(np.float32) if n else np.zeros(0, np.float32)
    pmax = flat.max(axis=1).astype(np.float32) if n else np.zeros(0, np.float32)
    if raw_min is not None:
        pmin = np.fmin(pmin, raw_min.astype(np.float32))
    if raw_max is not None:
        pmax = np.fmax(pmax, raw_max.astype(np.float32))
    return {"pixel_min": pmin, "pixel_max": pmax}


def _geometry(sums: np.ndarray, total: np.ndarray, ink: np.ndarray) -> dict[str, np.ndarray]:
    """Centre of mass relative to the image centre (the centre when blank) and the height
    and width of the ink's bounding box."""
    _, h, w = ink.shape
    has_ink = total > 0
    safe_total = np.where(has_ink, total, 1.0)
    com_row = np.where(has_ink, sums[:, :h] @ np.arange(h) / safe_total, (h - 1) / 2)
    com_col = np.where(has_ink, sums[:, h : h + w] @ np.arange(w) / safe_total, (w - 1) / 2)
    rows_ink, cols_ink = _any_along(ink)
    bbox_h = np.where(
        rows_ink.any(1), h - np.argmax(rows_ink[:, ::-1], 1) - np.argmax(rows_ink, 1), 0
    )
    bbox_w = np.where(
        cols_ink.any(1), w - np.argmax(cols_ink[:, ::-1], 1) - np.argmax(cols_ink, 1), 0
    )
    return {
        "com_row": (com_row - (h - 1) / 2).astype(np.float32),
        "com_col": (com_col - (w - 1) / 2).astype(np.float32),
        "bbox_height": bbox_h.astype(np.int32),
        "bbox_width": bbox_w.astype(np.int32),
    }
