"""Reader for folders of image files: ``ROOT/<split>/<label>/*.png`` or ``ROOT/<label>/*.png``,
and the image decoding shared with the Parquet reader (:func:`decode_images`).

Layout. A *class folder* holds files; a *split folder* holds class folders. ROOT must
hold only class folders (one split, ``train``) or only split folders. Files directly in
ROOT (a README, a manifest) are ignored; hidden entries (``.DS_Store``, ``.git``) are
ignored everywhere; a folder holding both files and folders is a FormatError naming it.

Labels come from class folder names: when every name is a non-negative integer written
in ASCII digits (``7``, ``07``) it is the label; otherwise the labels are the indexes of
the sorted distinct names (``cat`` -> 0, ``dog`` -> 1), the same for every split. Two
folders that mean the same label (``7`` and ``07``) are a FormatError naming both, never
a silent merge. A name made only of other digits (``٧``, ``７``, ``²``) is refused: it
reads as a number to a person but is not ``[0-9]+``, so taking it either as that number
or as a name to sort would label its images by a guess.

Records. Every non-hidden file in a class folder is a record: ids are
``<split>/<class folder>/<file name>``, ordered by label then natural file-name order
(``2.png`` before ``10.png``), so the order and ids are stable. A record may be read only
when :func:`~dataqual.ingest.paths.file_problem` finds no problem (a regular file inside
ROOT); :meth:`ImageFolderSource.files` lists only those, so the lineage step never hashes
a device, a FIFO or a file outside ROOT. No other file is ever opened, and decoding opens
files non-blocking and checks the open descriptor again (a file swapped for a FIFO after
the scan cannot hang the read).

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

A class or split *folder* that is a symlink leading outside ROOT is an error naming it
(there is no record to quarantine). Symlinks inside ROOT are followed.

The dataset shape is the most common upright image size, read from file headers only
(JPEG/WebP EXIF orientations 5..8 swap height and width, Pillow reports TIFF sizes upright;
a PNG's rare ``eXIf`` is not read for this, a rotated PNG is then resized and counted), or
28x28 when no file is readable; pass ``shape`` to fix it.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from dataqual.errors import FormatError, SourceError
from dataqual.imageset import DEFAULT_BATCH_ROWS, ImageBatch, SplitInfo
from dataqual.ingest.paths import file_problem
from dataqual.ingest.split import natural_key, order_splits

__all__ = [
    "DECODE_DEFECTS",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageFolderSource",
    "decode_image",
    "decode_images",
    "image_size",
    "looks_like_image_folder",
]

#: Largest declared image (pixels) decoded; larger ones are unreadable rows (bomb guard).
DEFAULT_MAX_PIXELS = 4096 * 4096
#: File name endings taken as images when detecting the format (reading takes every file).
IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".pgm",
    ".pnm",
    ".ppm",
)
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
_DEFAULT_SHAPE = (28, 28)
_INTEGER = re.compile(r"[0-9]+")  # ASCII only: \d and int() also take "٧" and "７"
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


@dataclass(frozen=True)
class _Record:
    class_name: str
    path: Path
    readable: bool  # False: file_problem() found one (not a regular file inside ROOT)


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(root)
    except ValueError:
        return False
    return True


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(
                (e for e in it if not e.name.startswith(".")), key=lambda e: natural_key(e.name)
            )
    except OSError as exc:
        raise SourceError(folder, f"cannot list folder: {exc.strerror or exc}") from exc


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _folder_kind(folder: Path) -> str:
    """``class`` (holds files), ``split`` (holds folders) or ``empty``."""
    entries = _entries(folder)
    dirs = [e for e in entries if _is_dir(e)]
    if dirs and len(dirs) != len(entries):
        files = [e.name for e in entries if not _is_dir(e)]
        raise FormatError(
            folder,
            f"holds both folders ({dirs[0].name}, ...) and files ({files[0]}, ...)",
            hint="a class folder holds images, a split folder holds class folders",
        )
    return "split" if dirs else ("class" if entries else "empty")


def _subfolders(folder: Path, root: Path) -> list[Path]:
    out = []
    for e in _entries(folder):
        if not _is_dir(e):
            continue
        p = Path(e.path)
        if e.is_symlink() and not _inside(p, root):
            raise SourceError(
                p,
                "folder is a symbolic link leading outside the dataset folder",
                hint="copy the data inside, or point at the real folder",
            )
        out.append(p)
    return out


def looks_like_image_folder(folder: Path) -> bool:
    """Cheap check for detection: a class folder of image files at depth 1 or 2.
    Only names and ``stat`` are looked at (``is_file`` is false for a FIFO or a device):
    no file is opened."""
    folder = Path(folder)
    try:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name[:1] != "."):
            for item in sorted(sub.iterdir())[:50]:
                if item.is_file() and item.name.lower().endswith(IMAGE_SUFFIXES):
                    return True
                if item.is_dir():
                    for f in sorted(item.iterdir())[:50]:
                        if f.is_file() and f.name.lower().endswith(IMAGE_SUFFIXES):
                            return True
    except OSError:
        return False
    return False


def _scan(root: Path) -> dict[str, list[tuple[str, Path]]]:
    """Split -> [(class folder name, class folder)] after checking the layout."""
    real_root = Path(os.path.realpath(root))
    top = _subfolders(root, real_root)
    if not top:
        raise FormatError(
            root,
            "holds no class folders",
            hint="expected ROOT/<label>/*.png or ROOT/<split>/<label>/*.png",
        )
    kinds = {p: _folder_kind(p) for p in top}
    if "split" not in kinds.values():
        return {"train": [(p.name, p) for p in top]}
    classy = [p for p, k in kinds.items() if k == "class"]
    if classy:
        split = next(p for p, k in kinds.items() if k == "split")
        raise FormatError(
            root,
            f"mixes class folders ({classy[0].name}: files) and split "
            f"folders ({split.name}: folders)",
            hint="use ROOT/<label>/* or ROOT/<split>/<label>/*, not both",
        )
    layout: dict[str, list[tuple[str, Path]]] = {}
    for split_dir in top:
        classes = _subfolders(split_dir, real_root)
        for c in classes:
            if _folder_kind(c) == "split":
                raise FormatError(
                    c,
                    "class folder holds folders; images must sit directly in ROOT/<split>/<label>/",
                )
        layout[split_dir.name] = [(c.name, c) for c in classes]
    return layout


def _class_labels(root: Path, layout: dict[str, list[tuple[str, Path]]]) -> dict[str, int]:
    """Class folder name -> label (see the module docstring); refuses digit look-alikes and
    two names for one label."""
    folders: dict[str, Path] = {}
    for classes in layout.values():
        for name, folder in classes:
            folders.setdefault(name, folder)
    names = sorted(folders)
    for name in names:
        if name.isdigit() and not _INTEGER.fullmatch(name):
            raise FormatError(
                folders[name],
                f"class folder name {name!r} is written in digits other than ASCII 0-9",
                hint="rename it with ASCII digits (7, not ٧ or ７) or with a word",
            )
    if not all(_INTEGER.fullmatch(n) for n in names):
        return {n: i for i, n in enumerate(names)}
    by_label: dict[int, list[str]] = defaultdict(list)
    for name in names:
        by_label[int(name)].append(name)
    for label, same in sorted(by_label.items()):
        if len(same) > 1:
            shown = " and ".join(str(folders[n].relative_to(root)) for n in same)
            raise FormatError(
                root,
                f"class folders {shown} both mean label {label}",
                hint="merge them into one folder, or rename one",
            )
    return {n: int(n) for n in names}


class ImageFolderSource:
    """A dataset stored as one image file per record in class folders."""

    def __init__(
        self,
        root: str | Path,
        *,
        shape: tuple[int, int] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise SourceError(root, "not a folder")
        self._root = root
        self._max_pixels = max_pixels
        real_root = Path(os.path.realpath(root))
        layout = _scan(root)
        self._label_of = _class_labels(root, layout)
        self._records: dict[str, list[_Record]] = {}
        for split, classes in layout.items():
            records = []
            for name, folder in sorted(
                classes, key=lambda c: (self._label_of[c[0]], natural_key(c[0]))
            ):
                for e in _entries(folder):
                    p = Path(e.path)
                    # the folder is inside ROOT (checked by _scan): only a link can lead out
                    inside = real_root if e.is_symlink() else None
                    records.append(_Record(name, p, file_problem(p, inside) is None))
            self._records[split] = records
        self._shape = shape
        self._ids = {
            s: np.array([f"{s}/{r.class_name}/{r.path.name}" for r in recs], dtype=str)
            for s, recs in self._records.items()
        }
        self._labels = {
            s: np.array([self._label_of[r.class_name] for r in recs], dtype=np.int64)
            for s, recs in self._records.items()
        }

    @property
    def description(self) -> str:
        return str(self._root)

    @property
    def class_names(self) -> dict[str, int]:
        """Class folder name -> label."""
        return dict(self._label_of)

    @property
    def shape(self) -> tuple[int, int]:
        """The most common image size (from headers, computed once), else 28x28."""
        if self._shape is None:
            sizes = Counter(
                size
                for recs in self._records.values()
                for r in recs
                if r.readable
                for size in [image_size(r.path)]
                if size is not None and size[0] * size[1] <= self._max_pixels
            )
            if not sizes:
                self._shape = _DEFAULT_SHAPE
            else:
                top = max(sizes.values())
                best = sorted(s for s, c in sizes.items() if c == top)
                self._shape = _DEFAULT_SHAPE if _DEFAULT_SHAPE in best else best[0]
        return self._shape

    def splits(self) -> list[SplitInfo]:
        """Every split with its record count (unreadable records are rows too) and the
        files that may be read."""
        return [
            SplitInfo(
                s,
                len(self._records[s]),
                tuple(r.path for r in self._records[s] if r.readable),
            )
            for s in order_splits(self._records)
        ]

    def files(self) -> list[Path]:
        """The files that may be read (and hashed): regular files inside ROOT only."""
        return [r.path for recs in self._records.values() for r in recs if r.readable]

    def labels(self, split: str) -> np.ndarray:
        """Labels from folder names, without decoding any image."""
        return self._labels[split].copy()

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Decode a split file by file, in chunks of ``rows`` records."""
        records = self._records[split]
        for start in range(0, len(records), rows):
            chunk = records[start : start + rows]
            n = len(chunk)
            images, defects = decode_images(
                [r.path if r.readable else None for r in chunk],
                self.shape,
                max_pixels=self._max_pixels,
            )
            yield ImageBatch(
                split=split,
                ids=self._ids[split][start : start + n],
                labels=self._labels[split][start : start + n],
                images=images,
                positions=np.arange(start, start + n, dtype=np.int64),
                defects=defects,
            )
