"""Reader for folders of image files: ``ROOT/<split>/<label>/*.png`` or ``ROOT/<label>/*.png``.
Images are decoded by :mod:`dataqual.ingest.decode` (shared with the Parquet reader).

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

A class or split *folder* that is a symlink leading outside ROOT is an error naming it
(there is no record to quarantine). Symlinks inside ROOT are followed.

The dataset shape is the most common upright image size, read from file headers only
(JPEG/WebP EXIF orientations 5..8 swap height and width, Pillow reports TIFF sizes upright;
a PNG's rare ``eXIf`` is not read for this, a rotated PNG is then resized and counted), or
28x28 when no file is readable; pass ``shape`` to fix it.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataqual.errors import FormatError, SourceError
from dataqual.imageset import DEFAULT_MAX_EXPANSION, SplitInfo
from dataqual.ingest.decode import DEFAULT_MAX_PIXELS, decode_images, image_size
from dataqual.ingest.formats import Probe, register_reader
from dataqual.ingest.paths import file_problem
from dataqual.ingest.reader import Reader, Records
from dataqual.ingest.split import natural_key, order_splits

__all__ = ["IMAGE_SUFFIXES", "ImageFolderSource", "looks_like_image_folder"]

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
_DEFAULT_SHAPE = (28, 28)
_INTEGER = re.compile(r"[0-9]+")  # ASCII only: \d and int() also take "٧" and "７"


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


def _detect(probe: Probe) -> bool:
    return probe.is_dir and looks_like_image_folder(probe.path)


@register_reader("images", detect=_detect, priority=50)
class ImageFolderSource(Reader):
    """A dataset stored as one image file per record in class folders."""

    options = frozenset({"shape"})

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
        self._description = str(root)
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
        self._shape: tuple[int, int] | None = shape  # type: ignore[assignment]
        self._ids = {
            s: np.array([f"{s}/{r.class_name}/{r.path.name}" for r in recs], dtype=str)
            for s, recs in self._records.items()
        }
        self._labels = {
            s: np.array([self._label_of[r.class_name] for r in recs], dtype=np.int64)
            for s, recs in self._records.items()
        }

    @classmethod
    def open(
        cls, path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION, **options: Any
    ) -> ImageFolderSource:
        """``max_expansion`` is accepted like every opener's; image files are decoded one
        at a time under their own pixel limit, so it does not apply."""
        if not Path(path).is_dir():
            raise SourceError(
                path,
                "an image source is a folder: ROOT/<label>/*.png or ROOT/<split>/<label>/*.png",
            )
        return cls(path, **options)

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

    def records(self, split: str, rows: int) -> Iterator[Records]:
        """Decode a split file by file, in chunks of ``rows`` records. A file that cannot
        be decoded (corrupt, truncated, not an image, not a regular file inside ROOT) is
        not an error: it is an all-zero row counted ``unreadable``, whose id names the
        file, and the stream goes on (validation quarantines it)."""
        records = self._records[split]
        for start in range(0, len(records), rows):
            chunk = records[start : start + rows]
            n = len(chunk)
            images, defects = decode_images(
                [r.path if r.readable else None for r in chunk],
                self.shape,
                max_pixels=self._max_pixels,
            )
            yield Records(
                labels=self._labels[split][start : start + n],
                images=images,
                defects=defects,
                ids=self._ids[split][start : start + n],
            )
