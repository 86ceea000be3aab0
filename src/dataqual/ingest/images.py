"""Reader for folders of image files: ``ROOT/<split>/<label>/*.png`` or ``ROOT/<label>/*.png``.

Layout. A *class folder* holds files; a *split folder* holds class folders. ROOT must
hold only class folders (one split, ``train``) or only split folders. Files directly in
ROOT (a README, a manifest) are ignored; hidden entries (``.DS_Store``, ``.git``) are
ignored everywhere; a folder holding both files and folders is a FormatError naming it.

Labels come from class folder names: when every name is a non-negative integer it is the
label; otherwise the labels are the indexes of the sorted distinct names (``cat`` -> 0,
``dog`` -> 1), the same for every split.

Records. Every non-hidden file in a class folder is a record: ids are
``<split>/<class folder>/<file name>``, ordered by label then natural file-name order
(``2.png`` before ``10.png``), so the order and ids are stable. Images are decoded with
Pillow one file at a time (the unavoidable per-file loop). Findings, not crashes:

* another size -> resized (bilinear) to the dataset shape, ``defects["wrong_shape"] = 1``;
* another mode (RGB, palette, 16-bit, ...) -> converted to L, ``defects["wrong_mode"] = 1``;
* not an image, corrupt, truncated, not a regular file, a broken symlink, a symlink that
  leads outside ROOT, or a declared size over ``max_pixels`` (a decompression bomb,
  checked from the header before anything is decoded) -> an all-zero image with
  ``defects["unreadable"] = 1``; its id names the file so it can be quarantined.

A class or split *folder* that is a symlink leading outside ROOT is an error naming it
(there is no record to quarantine). Symlinks inside ROOT are followed.

The dataset shape is the most common image size (read from file headers only), or
28x28 when no file is readable; pass ``shape`` to fix it.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dataqual.errors import FormatError, SourceError
from dataqual.imageset import DEFAULT_BATCH_ROWS, ImageBatch, SplitInfo
from dataqual.ingest.split import natural_key, order_splits

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageFolderSource",
    "decode_image",
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
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_DEFAULT_SHAPE = (28, 28)
_INTEGER = re.compile(r"^\d+$")


def image_size(source: Path | bytes) -> tuple[int, int] | None:
    """(height, width) declared by an image's header, without decoding; None if unreadable.
    PNG headers are parsed directly (fast); other formats through Pillow's lazy open."""
    try:
        if isinstance(source, bytes):
            head = source[:24]
        else:
            with open(source, "rb") as f:
                head = f.read(24)
        if head[:8] == _PNG_MAGIC and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return (h, w) if w and h else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
                w, h = im.size
        return (h, w) if w and h else None
    except Exception:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        return None


def decode_image(
    source: Path | bytes, shape: tuple[int, int], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, int, int, int]:
    """Decode one image file or encoded bytes to uint8 ``shape``.

    Returns ``(image, wrong_shape, wrong_mode, unreadable)`` with 0/1 flags. Never raises
    for bad content: anything Pillow cannot decode, or a declared size over
    ``max_pixels``, gives an all-zero image with ``unreadable = 1``.
    """
    h, w = shape
    zeros = np.zeros((h, w), dtype=np.uint8)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we check the size
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
                iw, ih = im.size
                if iw <= 0 or ih <= 0 or iw * ih > max_pixels:
                    return zeros, 0, 0, 1
                wrong_mode = int(im.mode != "L")
                img = im.convert("L") if wrong_mode else im
                img.load()
                wrong_shape = int(img.size != (w, h))
                if wrong_shape:
                    img = img.resize((w, h), Image.Resampling.BILINEAR)
                arr = np.array(img, dtype=np.uint8)
        if arr.shape != (h, w):
            return zeros, 0, 0, 1
        return arr, wrong_shape, wrong_mode, 0
    except Exception:  # corrupt/truncated/not an image: Pillow's errors are many types
        return zeros, 0, 0, 1


@dataclass(frozen=True)
class _Record:
    class_name: str
    path: Path
    readable: bool  # False: not a regular file, broken link or a link leading out of ROOT


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
    """Cheap check for detection: a class folder of image files at depth 1 or 2."""
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
        names = sorted({name for classes in layout.values() for name, _ in classes})
        if all(_INTEGER.match(n) for n in names):
            self._label_of = {n: int(n) for n in names}
        else:
            self._label_of = {n: i for i, n in enumerate(names)}
        self._records: dict[str, list[_Record]] = {}
        for split, classes in layout.items():
            records = []
            for name, folder in sorted(
                classes, key=lambda c: (self._label_of[c[0]], natural_key(c[0]))
            ):
                for e in _entries(folder):
                    p = Path(e.path)
                    try:
                        regular = stat.S_ISREG(os.stat(p).st_mode)
                    except OSError:
                        regular = False
                    ok = regular and (not e.is_symlink() or _inside(p, real_root))
                    records.append(_Record(name, p, ok))
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
        return [
            SplitInfo(s, len(self._records[s]), tuple(r.path for r in self._records[s]))
            for s in order_splits(self._records)
        ]

    def files(self) -> list[Path]:
        return [r.path for recs in self._records.values() for r in recs]

    def labels(self, split: str) -> np.ndarray:
        """Labels from folder names, without decoding any image."""
        return self._labels[split].copy()

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Decode a split file by file, in chunks of ``rows`` records."""
        records = self._records[split]
        h, w = self.shape
        for start in range(0, len(records), rows):
            chunk = records[start : start + rows]
            n = len(chunk)
            images = np.zeros((n, h, w), dtype=np.uint8)
            flags = np.zeros((3, n), dtype=np.int32)  # wrong_shape, wrong_mode, unreadable
            for i, rec in enumerate(chunk):
                if not rec.readable:
                    flags[2, i] = 1
                    continue
                images[i], *row_flags = decode_image(rec.path, (h, w), max_pixels=self._max_pixels)
                flags[:, i] = row_flags
            yield ImageBatch(
                split=split,
                ids=self._ids[split][start : start + n],
                labels=self._labels[split][start : start + n],
                images=images,
                positions=np.arange(start, start + n, dtype=np.int64),
                defects={"unreadable": flags[2], "wrong_shape": flags[0], "wrong_mode": flags[1]},
            )
