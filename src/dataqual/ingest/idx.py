"""Strict, streaming reader for IDX files (the format of the official MNIST files).

An IDX file is two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, one big-endian uint32 per dimension, then the values row-major. Files may be
gzip-compressed, including several gzip members one after the other (``cat a.gz b.gz``).
Every header is checked against the file's size before anything is allocated, so a header
that claims 10^9 images costs nothing, and a gzip file whose header declares more than
``max_expansion`` bytes per byte on disk (past the 64 MiB floor) is refused as a
decompression bomb (:func:`check_expansion`, shared by the other readers).

Only regular files inside the source folder are read (:mod:`dataqual.ingest.paths`): a
file named like an IDX file that is a device, FIFO, socket, broken link or a link leading
out of the folder is a :class:`~dataqual.errors.SourceError` naming it, never skipped.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MAX_EXPANSION,
    ImageBatch,
    SplitInfo,
    position_ids,
)
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.split import order_splits

__all__ = [
    "IdxHeader",
    "IdxSource",
    "find_idx_pairs",
    "read_idx_header",
]

_UBYTE = 0x08
_TYPE_NAMES = {
    0x08: "ubyte",
    0x09: "byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}
_GZIP_MAGIC = b"\x1f\x8b"
#: Deflate cannot expand data by more than ~1032:1 (gzip members only add overhead), so a
#: header declaring more than this many bytes per compressed byte cannot be satisfied.
_MAX_GZIP_RATIO = 1100
_COUNT_CHUNK = 1 << 20
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


@dataclass(frozen=True)
class IdxHeader:
    """A parsed IDX header: ``dims[0]`` records of ``dims[1:]`` values each."""

    path: Path
    dims: tuple[int, ...]
    header_bytes: int
    compressed: bool

    @property
    def count(self) -> int:
        return self.dims[0]

    @property
    def record_shape(self) -> tuple[int, ...]:
        return self.dims[1:]

    @property
    def record_bytes(self) -> int:
        return int(np.prod(self.record_shape, dtype=np.int64)) if self.record_shape else 1


def _open(path: Path) -> BinaryIO:
    require_regular_file(path)  # again: the file may have been swapped since the header
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _gzip_trailer(path: Path, size: int) -> int:
    """The last gzip member's ISIZE trailer: its uncompressed size mod 2**32."""
    if size < 18:
        raise TruncatedError(path, f"gzip file of {size} bytes is too short to hold any data")
    with path.open("rb") as f:
        f.seek(-4, io.SEEK_END)
        return int(struct.unpack("<I", f.read(4))[0])


def _gzip_length(header: IdxHeader, declared: int) -> int:
    """Uncompressed bytes of a gzip file, every member counted, by streaming it in 1 MiB
    chunks; stops at ``declared + 1`` so data beyond what the header declares (a gzip bomb)
    is never decompressed. A corrupt or cut stream is a TruncatedError naming the record."""
    count = 0
    try:
        with gzip.open(header.path, "rb") as f:
            while count <= declared:
                chunk = f.read(min(_COUNT_CHUNK, declared + 1 - count))
                if not chunk:
                    break
                count += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        complete = max(0, (count - header.header_bytes) // header.record_bytes)
        raise TruncatedError(
            header.path,
            f"compressed stream is corrupt or truncated ({exc})",
            record=min(complete, header.count),
        ) from exc
    return count


def _check_gzip_size(
    header: IdxHeader, declared: int, size: int, max_expansion: float | None
) -> None:
    """A gzip file must decompress to exactly ``declared`` bytes. The ISIZE trailer
    settles the usual one-member file without decompressing; when it disagrees (several
    members, a cut file, a wrong header) the members are counted by streaming. Before any
    counting, a claim deflate cannot satisfy is refused, then one expanding more than
    ``max_expansion`` times the file (:func:`check_expansion`; None: no limit)."""
    path = header.path
    trailer_agrees = _gzip_trailer(path, size) == declared % 2**32
    claim = f"header declares {header.count} records ({declared} bytes uncompressed)"
    if not trailer_agrees and declared > size * _MAX_GZIP_RATIO:
        raise TruncatedError(
            path,
            f"{claim}, more than a gzip file of {size} bytes can hold",
            hint="the file is truncated or its header is wrong",
        )
    if max_expansion is not None:
        what = f"the {header.count} records its header declares"
        check_expansion(path, what, declared, size, max_expansion)
    if trailer_agrees:
        return  # the streaming read still checks the real length record by record
    actual = _gzip_length(header, declared)
    if actual > declared:
        raise FormatError(path, f"{claim} but data continues after the {header.count} records")
    if actual < declared:
        complete = max(0, (actual - header.header_bytes) // header.record_bytes)
        raise TruncatedError(
            path,
            f"{claim} but the file decompresses to {actual} bytes",
            record=complete,
            hint="the file is truncated or its header is wrong",
        )


def read_idx_header(
    path: Path,
    expected_ndim: int | None = None,
    root: Path | None = None,
    *,
    max_expansion: float | None = DEFAULT_MAX_EXPANSION,
) -> IdxHeader:
    """Parse and check an IDX header against the file's size, allocating nothing.

    ``path`` must be a regular file inside ``root`` (resolved; default: the file's own
    folder), checked before anything is opened. A gzip file whose header declares more
    than ``max_expansion`` bytes per byte on disk (past the 64 MiB floor) is refused
    (:func:`check_expansion`; None: no limit).
    """
    path = Path(path)
    require_regular_file(path, resolved_root(path) if root is None else root)
    if path.stat().st_size == 0:
        raise TruncatedError(path, "file is empty")
    try:
        with _open(path) as f:
            compressed = isinstance(f, gzip.GzipFile)
            head = f.read(4)
            if len(head) < 4:
                raise TruncatedError(
                    path, f"file ends inside the IDX header ({len(head)} of 4 bytes)"
                )
            zero, dtype, ndim = struct.unpack(">HBB", head)
            if zero != 0 or dtype not in _TYPE_NAMES or ndim == 0:
                raise FormatError(
                    path,
                    f"bad IDX magic number 0x{head.hex()}",
                    hint="expected 0x00000803 for images or 0x00000801 for labels",
                )
            if dtype != _UBYTE:
                raise FormatError(
                    path, f"IDX values are {_TYPE_NAMES[dtype]}, only ubyte (0x08) is supported"
                )
            if expected_ndim is not None and ndim != expected_ndim:
                raise FormatError(
                    path,
                    f"IDX file has {ndim} dimensions, expected {expected_ndim}",
                    hint="images are idx3 (count, rows, cols), labels idx1 (count)",
                )
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise TruncatedError(path, "file ends inside the IDX header dimensions")
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, SourceError):
            raise
        raise FormatError(path, f"cannot decompress: {exc}") from exc
    dims = struct.unpack(f">{ndim}I", raw_dims)
    header = IdxHeader(
        path=path,
        dims=tuple(int(d) for d in dims),
        header_bytes=4 + 4 * ndim,
        compressed=compressed,
    )
    if any(d == 0 for d in header.record_shape):
        raise FormatError(path, f"IDX record shape {header.record_shape} has a zero dimension")
    declared = header.header_bytes + header.count * header.record_bytes
    if compressed:
        _check_gzip_size(header, declared, path.stat().st_size, max_expansion)
        return header
    actual = path.stat().st_size
    if actual != declared:
        problem = (
            f"header declares {header.count} records of {header.record_bytes} bytes "
            f"({declared} bytes in all) but the file holds {actual} bytes"
        )
        if actual < declared:
            # Name the first record that is missing or cut short, as the streaming read would.
            complete = (actual - header.header_bytes) // header.record_bytes
            raise TruncatedError(path, problem, record=complete)
        raise FormatError(path, problem)
    return header


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


class IdxSource:
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
        shapes = set()
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
            shapes.add(img.record_shape)
        if len(shapes) > 1:
            raise FormatError(
                description or "<idx>", f"splits have different image shapes: {sorted(shapes)}"
            )
        self._shape: tuple[int, int] = tuple(shapes.pop())  # type: ignore[assignment]
        self._description = description or ", ".join(str(p[0].parent) for p in self._pairs.values())

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

    @property
    def description(self) -> str:
        return self._description

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    def splits(self) -> list[SplitInfo]:
        return [
            SplitInfo(s, self._headers[s][0].count, self._pairs[s])
            for s in order_splits(self._pairs)
        ]

    def files(self) -> list[Path]:
        return [p for pair in self._pairs.values() for p in pair]

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Stream the split in chunks of ``rows`` records; truncation is reported by record."""
        img_h, lab_h = self._headers[split]
        h, w = self._shape
        with _open(img_h.path) as fi, _open(lab_h.path) as fl:
            _read_records(fi, img_h, 0, 0)
            _read_records(fl, lab_h, 0, 0)
            for start in range(0, img_h.count, rows):
                n = min(rows, img_h.count - start)
                pix = _read_records(fi, img_h, start, n)
                lab = _read_records(fl, lab_h, start, n)
                yield ImageBatch(
                    split=split,
                    ids=position_ids(split, start, start + n),
                    labels=np.frombuffer(lab, dtype=np.uint8).astype(np.int64),
                    images=np.frombuffer(pix, dtype=np.uint8).reshape(n, h, w),
                    positions=np.arange(start, start + n, dtype=np.int64),
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
    try:
        data = f.read(size)
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise TruncatedError(
            header.path, f"compressed stream is corrupt or truncated ({exc})", record=start
        ) from exc
    if n is not None and len(data) < size:
        raise TruncatedError(
            header.path, "file ends early", record=start + len(data) // header.record_bytes
        )
    return data
