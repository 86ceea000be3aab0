"""Strict, streaming reader for IDX files (the format of the official MNIST files).

A source is a folder of image/label file pairs named like the official ones
(``train-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``). Files may be
gzip-compressed, including several gzip members one after the other. Every header is
checked against the file's size before anything is read (:mod:`.idx_header`); a file cut
short, or a gzip stream that breaks, is a :class:`~dataqual.errors.TruncatedError` naming
the file and the first record missing.

Only regular files inside the source folder are read (:mod:`dataqual.ingest.paths`): a
file named like an IDX file that is a device, FIFO, socket, broken link or a link leading
out of the folder is a :class:`~dataqual.errors.SourceError` naming it, never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import DEFAULT_MAX_EXPANSION, SplitInfo
from dataqual.ingest.formats import Probe, register_reader
from dataqual.ingest.gzipped import open_maybe_gzip
from dataqual.ingest.idx_header import IdxHeader, read_idx_header
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.reader import Reader, Records, wrap_errors
from dataqual.ingest.split import order_splits

__all__ = ["IdxHeader", "IdxSource", "find_idx_pairs", "read_idx_header"]

_FILE_RE = re.compile(
    r"^(?P<prefix>.+?)[-._](?P<kind>images|labels)[-._]idx(?P<ndim>[13])[-._]ubyte(?P<gz>\.gz)?$"
)
_SPLIT_ALIASES = {
    "t10k": "test",
    "test": "test",
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
}


def _split_name(prefix: str) -> str:
    last = re.split(r"[-._]", prefix)[-1].lower()
    return _SPLIT_ALIASES.get(last, prefix)


def find_idx_pairs(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Map split name to (images, labels) files found in a folder by their standard names.

    An entry named like an IDX file that is not a regular file inside the folder (device,
    FIFO, broken link, link leading out) is a SourceError naming it: skipping it would
    quietly drop a split.
    """
    folder = Path(folder)
    root = resolved_root(folder)
    found: dict[tuple[str, str], list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        m = _FILE_RE.match(entry.name)
        if m:
            require_regular_file(entry, root)
            found.setdefault((m["prefix"], m["kind"]), []).append(entry)
    pairs: dict[str, tuple[Path, Path]] = {}
    for (prefix, kind), paths in sorted(found.items()):
        if kind != "images":
            continue
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise FormatError(
                folder,
                f"several image files for split '{prefix}': {names}",
                hint="keep either the .gz or the uncompressed file",
            )
        labels = found.get((prefix, "labels"))
        if not labels:
            raise SourceError(
                paths[0],
                "no matching labels file",
                hint=f"expected {prefix}-labels-idx1-ubyte[.gz] beside it",
            )
        if len(labels) > 1:
            raise FormatError(folder, f"several label files for split '{prefix}'")
        split = _split_name(prefix)
        if split in pairs:
            raise FormatError(folder, f"two sets of files map to split '{split}'")
        pairs[split] = (paths[0], labels[0])
    return pairs


def _detect(probe: Probe) -> bool:
    return probe.is_dir and bool(find_idx_pairs(probe.path))


@register_reader("idx", detect=_detect, priority=10)
class IdxSource(Reader):
    """An MNIST-style dataset stored as pairs of IDX image and label files, one pair per split."""

    def __init__(
        self,
        pairs: dict[str, tuple[Path, Path]],
        description: str | None = None,
        *,
        root: Path | None = None,
        max_expansion: float = DEFAULT_MAX_EXPANSION,
    ) -> None:
        """``root``: the resolved folder every file must stay inside (default: each file's
        own folder); a file that is not a regular file inside it is a SourceError. A gzip
        file expanding more than ``max_expansion`` times (past the floor) is refused."""
        if not pairs:
            raise SourceError(description or "<idx>", "no IDX image/label file pairs found")
        self._pairs = {s: (Path(i), Path(lab)) for s, (i, lab) in pairs.items()}
        self._headers: dict[str, tuple[IdxHeader, IdxHeader]] = {}
        for path in (p for pair in self._pairs.values() for p in pair):
            require_regular_file(path, resolved_root(path) if root is None else root)
        for split, (img_path, lab_path) in self._pairs.items():
            img = read_idx_header(img_path, expected_ndim=3, root=root, max_expansion=max_expansion)
            lab = read_idx_header(lab_path, expected_ndim=1, root=root, max_expansion=max_expansion)
            if img.count != lab.count:
                raise FormatError(
                    img_path,
                    f"{img.count} images but {lab_path.name} holds {lab.count} labels",
                    hint="images and labels files must have the same record count",
                )
            self._headers[split] = (img, lab)
        shapes = {img.record_shape for img, _ in self._headers.values()}
        if len(shapes) > 1:
            raise FormatError(
                description or "<idx>", f"splits have different image shapes: {sorted(shapes)}"
            )
        self._shape: tuple[int, int] = tuple(shapes.pop())  # type: ignore[assignment]
        self._description = description or ", ".join(str(p[0].parent) for p in self._pairs.values())

    @classmethod
    def open(
        cls, path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION, **options: Any
    ) -> IdxSource:
        if not Path(path).is_dir():
            raise SourceError(
                path,
                "an IDX source is a folder holding *-images-idx3-ubyte[.gz] and "
                "*-labels-idx1-ubyte[.gz] files",
            )
        return cls.from_folder(path, max_expansion=max_expansion)

    @classmethod
    def from_folder(
        cls, folder: str | Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION
    ) -> IdxSource:
        folder = Path(folder)
        if not folder.is_dir():
            raise SourceError(folder, "not a folder")
        return cls(
            find_idx_pairs(folder),
            description=str(folder),
            root=resolved_root(folder),
            max_expansion=max_expansion,
        )

    def splits(self) -> list[SplitInfo]:
        return [
            SplitInfo(s, self._headers[s][0].count, self._pairs[s])
            for s in order_splits(self._pairs)
        ]

    def files(self) -> list[Path]:
        return [p for pair in self._pairs.values() for p in pair]

    def labels(self, split: str) -> np.ndarray:
        """All labels of a split, from the labels file only."""
        lab_h = self._headers[split][1]
        with open_maybe_gzip(lab_h.path) as f:
            _read_records(f, lab_h, 0, 0)
            data = _read_records(f, lab_h, 0, lab_h.count)
        return np.frombuffer(data, dtype=np.uint8).astype(np.int64)

    def records(self, split: str, rows: int) -> Iterator[Records]:
        """The split in chunks of ``rows``; truncation is reported by file and record."""
        img_h, lab_h = self._headers[split]
        h, w = self._shape
        with open_maybe_gzip(img_h.path) as fi, open_maybe_gzip(lab_h.path) as fl:
            _read_records(fi, img_h, 0, 0)
            _read_records(fl, lab_h, 0, 0)
            for start in range(0, img_h.count, rows):
                n = min(rows, img_h.count - start)
                pix = _read_records(fi, img_h, start, n)
                lab = _read_records(fl, lab_h, start, n)
                yield Records(
                    labels=np.frombuffer(lab, dtype=np.uint8).astype(np.int64),
                    images=np.frombuffer(pix, dtype=np.uint8).reshape(n, h, w),
                )
            for f, hdr in ((fi, img_h), (fl, lab_h)):
                if _read_records(f, hdr, hdr.count, None):
                    raise FormatError(
                        hdr.path,
                        f"data continues after the {hdr.count} records the header declares",
                    )


def _read_records(f: BinaryIO, header: IdxHeader, start: int, n: int | None) -> bytes:
    """Read ``n`` records (the header itself when ``start == n == 0``; one probe byte when
    ``n`` is None), turning short reads and corrupt compression into our errors."""
    size = (
        header.header_bytes
        if n == 0 and start == 0
        else (1 if n is None else n * header.record_bytes)
    )
    problem = "compressed stream is corrupt or truncated ({exc})"
    with wrap_errors(header.path, problem, kind=TruncatedError, record=start):
        data = f.read(size)
    if n is not None and len(data) < size:
        raise TruncatedError(
            header.path, "file ends early", record=start + len(data) // header.record_bytes
        )
    return data
