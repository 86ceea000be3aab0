"""Decoding image files and encoded image bytes into uint8 images of the dataset's shape,
shared by the image-folder and Parquet readers.

Decoding (:func:`decode_images`, Pillow one image at a time: the unavoidable per-file
loop). Every change to what the file holds is counted per row; nothing is silent:

* EXIF orientation 2..8 (JPEG, TIFF, WebP, PNG ``eXIf``) is applied (rotated/flipped
  upright), ``defects["reoriented"] = 1``;
* 16-bit grayscale (``I;16``, ``I;16B``) is scaled to 8 bits (``value >> 8``: 65535 -> 255,
  32768 -> 128), ``defects["rescaled"] = 1``; 16-bit colour PNGs (which Pillow reduces to
  their high bytes) count as ``rescaled`` too. 32-bit integer (``I``) and float (``F``)
  images are scaled by the range their file declares: a TIFF's BitsPerSample and
  SampleFormat, 16 bits for PNG, else the smallest of 8/16/32 bits holding the largest
  value; floats by 0..1 when every value lies there, else taken as 0..255. Negative,
  too-large or fractional values left after that are clipped/rounded and counted in
  ``pixels_out_of_range``; float NaN/inf in ``missing_pixels``. Deep grayscale counts only
  ``rescaled`` (its colour model is already gray), not ``wrong_mode``;
* another colour model (RGB, palette, bilevel, CMYK, ...) -> converted to L,
  ``defects["wrong_mode"] = 1``;
* with an alpha channel (RGBA, LA, palette with transparency): when the colour/gray
  channels are constant and alpha varies, the image was drawn in alpha only, and alpha is
  the ink (bright on dark, as in MNIST): ``defects["from_alpha"] = 1``. Otherwise the image
  is composited on black (``gray * alpha / 255``: a transparent pixel shows the dark
  background, an opaque one its own gray; fully opaque images are unchanged). Both count
  ``wrong_mode``;
* another size -> resized (bilinear) to the dataset shape, ``defects["wrong_shape"] = 1``;
* not an image, corrupt, truncated, not a regular file, a broken symlink, a symlink that
  leads outside ROOT, or a declared size over ``max_pixels`` (a decompression bomb,
  checked from the header before anything is decoded) -> an all-zero image with
  ``defects["unreadable"] = 1``; its id names the file so it can be quarantined.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

__all__ = ["DECODE_DEFECTS", "DEFAULT_MAX_PIXELS", "decode_image", "decode_images", "image_size"]

#: Largest declared image (pixels) decoded; larger ones are unreadable rows (bomb guard).
DEFAULT_MAX_PIXELS = 4096 * 4096
#: The per-row defect counters :func:`decode_images` returns, always all of them.
DECODE_DEFECTS = (
    "unreadable",
    "wrong_shape",
    "wrong_mode",
    "rescaled",
    "reoriented",
    "from_alpha",
    "pixels_out_of_range",
    "missing_pixels",
)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ORIENTATION = 0x0112
_SWAPS_AXES = (5, 6, 7, 8)  # EXIF orientations that rotate by 90 degrees
_ALPHA_MODES = {"RGBA": "RGBA", "RGBa": "RGBA", "PA": "RGBA", "LA": "LA", "La": "LA"}
_O_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def _open_regular(path: Path) -> BinaryIO | None:
    """``path`` opened for binary reading, or None unless it is a regular file.

    ``stat`` first, so a device or FIFO is never opened; then the open itself is
    non-blocking and its descriptor is checked again, so a file replaced by a FIFO or a
    link to ``/dev/zero`` in between neither blocks nor reads forever.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, _O_FLAGS)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return os.fdopen(fd, "rb")
    except OSError:
        pass
    os.close(fd)
    return None


@contextmanager
def _opened(source: Path | bytes) -> Iterator[Image.Image | None]:
    """A lazily opened Pillow image (header only), None when ``source`` may not be opened;
    the file is closed on exit."""
    if isinstance(source, bytes):
        with Image.open(io.BytesIO(source)) as im:
            yield im
        return
    f = _open_regular(source)
    if f is None:
        yield None
        return
    with f, Image.open(f) as im:
        yield im


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8), 1 when absent or unparsable (the image is then used
    exactly as stored)."""
    try:
        value = im.getexif().get(_ORIENTATION, 1)
    except Exception:  # a malformed EXIF block: Pillow raises many types
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def image_size(source: Path | bytes) -> tuple[int, int] | None:
    """(height, width) of an image as decoded, from its header, without decoding; None if
    unreadable. PNG headers are parsed directly (fast); other formats through Pillow's
    lazy open, upright (see the module docstring). A path that is not a regular file is
    never opened."""
    try:
        if isinstance(source, bytes):
            head = source[:24]
        else:
            f = _open_regular(source)
            if f is None:
                return None
            with f:
                head = f.read(24)
        if head[:8] == _PNG_MAGIC and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return (h, w) if w and h else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _opened(source) as im:
                if im is None:
                    return None
                w, h = im.size
                # Pillow's TIFF size is already upright (it transposes TIFFs as it loads)
                if im.format in ("JPEG", "MPO", "WEBP") and _orientation(im) in _SWAPS_AXES:
                    w, h = h, w
        return (h, w) if w and h else None
    except Exception:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        return None


@dataclass(frozen=True)
class _Depth:
    """What the file says about its samples, read before decoding (Pillow forgets it)."""

    bits: int | None  # bits per sample declared for an I/F image; None when unknown
    signed: bool  # integer samples may be negative (TIFF SampleFormat 2)
    reduced16: bool  # Pillow decoded 16-bit samples into an 8-bit mode (their high bytes)


def _depth(im: Image.Image) -> _Depth:
    try:  # the raw mode of the undecoded tiles, e.g. "RGB;16B" for a 16-bit colour PNG
        raw = [t[3][0] if isinstance(t[3], tuple) and t[3] else t[3] for t in im.tile]
    except Exception:
        raw = []
    reduced16 = im.mode in ("1", "L", "P", "LA", "PA", "RGB", "RGBA") and any(
        isinstance(r, str) and ";16" in r for r in raw
    )
    if im.mode not in ("I", "F"):
        return _Depth(None, False, reduced16)
    if im.format == "PNG":
        return _Depth(16, False, False)
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return _Depth(None, True, False)
    bits, fmt = tags.get(258), tags.get(339, 1)
    bits = bits[0] if isinstance(bits, tuple) and bits else bits
    fmt = fmt[0] if isinstance(fmt, tuple) and fmt else fmt
    return _Depth(int(bits) if isinstance(bits, int) and 0 < bits <= 64 else None, fmt == 2, False)


@dataclass
class _Gray:
    """One decoded uint8 grayscale image and what it took to get it."""

    pixels: np.ndarray
    wrong_mode: int = 0
    rescaled: int = 0
    from_alpha: int = 0
    out_of_range: int = 0
    missing: int = 0


def _int_to_gray(values: np.ndarray, depth: _Depth) -> _Gray:
    """Integer samples scaled from the declared range to 0..255 (a shift, like ``>> 8`` for
    16 bits); negative or over-range values are clipped and counted."""
    v = values.astype(np.int64, copy=False)
    bits = depth.bits
    signed = depth.signed
    if bits is None:  # unknown: the smallest usual depth that holds the data
        top = int(v.max()) if v.size else 0
        bits = 8 if top < 1 << 8 else 16 if top < 1 << 16 else 32
        signed = False
    usable = max(bits - 1 if signed else bits, 1)
    hi = (1 << usable) - 1
    out_of_range = int(np.count_nonzero((v < 0) | (v > hi)))
    v = np.clip(v, 0, hi)
    if usable > 8:
        pixels, rescaled = v >> (usable - 8), 1
    elif usable < 8:
        pixels, rescaled = (v * 255 + hi // 2) // hi, 1
    else:
        pixels, rescaled = v, 0
    return _Gray(pixels.astype(np.uint8), rescaled=rescaled, out_of_range=out_of_range)


def _float_to_gray(values: np.ndarray) -> _Gray:
    """Float samples: 0..1 (every finite value) scaled by 255, else taken as 0..255 with
    rounding/clipping counted; NaN/inf become 0 and count as missing."""
    v = values.astype(np.float64, copy=False)
    finite = np.isfinite(v)
    w = np.where(finite, v, 0.0)
    missing = int(v.size - np.count_nonzero(finite))
    if finite.any() and w.min() >= 0.0 and w.max() <= 1.0:
        return _Gray(np.rint(w * 255.0).astype(np.uint8), rescaled=1, missing=missing)
    fixed = np.clip(np.rint(w), 0.0, 255.0)
    out_of_range = int(np.count_nonzero(finite & (fixed != w)))
    return _Gray(fixed.astype(np.uint8), out_of_range=out_of_range, missing=missing)


def _alpha_to_gray(im: Image.Image) -> _Gray:
    """An image with alpha: the alpha as ink when only alpha varies, else composited on
    black (see the module docstring)."""
    im = im.convert(_ALPHA_MODES.get(im.mode, "RGBA"))
    a = np.asarray(im)
    colour, alpha = a[..., :-1].reshape(-1, a.shape[-1] - 1), a[..., -1]
    flat = bool((colour.min(axis=0) == colour.max(axis=0)).all()) if colour.size else True
    if flat and alpha.min() != alpha.max():
        return _Gray(alpha.copy(), wrong_mode=1, from_alpha=1)
    gray = a[..., 0] if im.mode == "LA" else np.asarray(im.convert("RGB").convert("L"))
    mixed = (gray.astype(np.uint16) * alpha + 127) // 255
    return _Gray(mixed.astype(np.uint8), wrong_mode=1)


def _to_gray(im: Image.Image, depth: _Depth) -> _Gray:
    """Any Pillow mode to uint8 grayscale, counting what changed."""
    mode = im.mode
    if mode == "L":
        return _Gray(np.asarray(im).copy(), rescaled=int(depth.reduced16))
    if mode.startswith("I;16"):
        return _Gray((np.asarray(im) >> 8).astype(np.uint8), rescaled=1)
    if mode == "I":
        return _int_to_gray(np.asarray(im), depth)
    if mode == "F":
        return _float_to_gray(np.asarray(im))
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        gray = _alpha_to_gray(im)
    else:
        try:
            converted = im.convert("L")
        except ValueError:  # modes Pillow cannot take to L directly (HSV, ...)
            converted = im.convert("RGB").convert("L")
        gray = _Gray(np.asarray(converted).copy(), wrong_mode=1)
    gray.rescaled = int(depth.reduced16)
    return gray


def _decode_one(
    source: Path | bytes, shape: tuple[int, int], max_pixels: int
) -> tuple[np.ndarray, tuple[int, ...]] | None:
    """One image as uint8 ``shape`` and its counters in :data:`DECODE_DEFECTS` order (the
    first, unreadable, is 0); None when it cannot be decoded."""
    h, w = shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning: we check the size
        with _opened(source) as im:
            if im is None:
                return None
            iw, ih = im.size
            if iw <= 0 or ih <= 0 or iw * ih > max_pixels:
                return None
            depth = _depth(im)  # before anything loads: the tiles say how it is stored
            orientation = _orientation(im)
            img = ImageOps.exif_transpose(im) if orientation != 1 else im
            gray = _to_gray(img, depth)
    arr = gray.pixels
    if arr.ndim != 2 or arr.size == 0:
        return None
    wrong_shape = int(arr.shape != (h, w))
    if wrong_shape:
        arr = np.asarray(Image.fromarray(arr, "L").resize((w, h), Image.Resampling.BILINEAR))
    flags = (
        0,
        wrong_shape,
        gray.wrong_mode,
        gray.rescaled,
        int(orientation != 1),
        gray.from_alpha,
        gray.out_of_range,
        gray.missing,
    )
    return arr, flags


def decode_images(
    items: Sequence[Path | bytes | None],
    shape: tuple[int, int],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Decode image files or encoded bytes to uint8 ``(n, *shape)`` with per-row counters.

    ``None`` (a null cell, a file that may not be read) and anything Pillow cannot decode,
    or a declared size over ``max_pixels``, give an all-zero ``unreadable`` row. The
    counters are every name in :data:`DECODE_DEFECTS` (int32, one value per row). Never
    raises for bad content; a path that is not a regular file is never opened.
    """
    n = len(items)
    images = np.zeros((n, *shape), dtype=np.uint8)
    flags = np.zeros((n, len(DECODE_DEFECTS)), dtype=np.int32)
    for i, item in enumerate(items):  # per-image decode: unavoidable
        try:
            got = None if item is None else _decode_one(item, shape, max_pixels)
        except Exception:  # corrupt/truncated/not an image: Pillow's errors are many types
            got = None
        if got is None:
            flags[i, 0] = 1
        else:
            images[i], flags[i] = got
    return images, {name: flags[:, k].copy() for k, name in enumerate(DECODE_DEFECTS)}


def decode_image(
    source: Path | bytes, shape: tuple[int, int], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, dict[str, int]]:
    """One image through :func:`decode_images`: ``(image, {counter: value})``."""
    images, defects = decode_images([source], shape, max_pixels=max_pixels)
    return images[0], {k: int(v[0]) for k, v in defects.items()}
