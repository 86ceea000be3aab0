"""Reader for Keras-style ``.npz`` files (``x_train``, ``y_train``, ``x_test``, ``y_test``).

Every pair ``x_<split>`` / ``y_<split>`` is a split (train, test, and e.g. ``x_val``);
other arrays in the archive are not records and are not read. The archive is opened
with ``np.load(..., allow_pickle=False)`` and each member's ``.npy`` header is checked
before any data is read: an object (pickled) array, a dtype that is not a number, an
``x`` that is not ``(n, H, W)`` or ``(n, H, W, 1)``, a ``y`` that is not ``(n,)`` or
``(n, 1)``, counts that disagree, or a member whose zip entry cannot hold the data its
header declares are :class:`~dataqual.errors.FormatError` /
:class:`~dataqual.errors.TruncatedError` naming the file and the array.

Data is then streamed out of the zip member in chunks of ``rows`` (raw bytes through
``np.frombuffer``, so no pickle can ever run), so memory stays at one chunk even for a
compressed archive whose few hundred kilobytes inflate to gigabytes; the declared size
(header shape x itemsize) must equal the zip entry's uncompressed size before anything is
read, and zip stops at that size. A deflated member that expands more than
``max_expansion`` times its compressed size, or arrays that all together expand more than
that times the archive's size (past the 64 MiB floor), are a decompression bomb: refused
from the headers (:func:`~dataqual.ingest.idx.check_expansion`). A Fortran-ordered
array (``np.savez`` of a transposed or column-major array) keeps each pixel of all images
together, so no image can be read without inflating the whole member: it is refused with a
:class:`FormatError` saying how to save it (``np.ascontiguousarray``), unless its layout
equals the row-major one (one dimension larger than 1).

Images that are not uint8 (int64, float) are cleaned by
:func:`~dataqual.ingest.values.clean_pixel_values` (``missing_pixels``,
``pixels_out_of_range``, ``raw_min``/``raw_max``; a float image in [0, 1] is scaled to
0..255 and counted as ``rescaled``). Labels that are not non-negative integers become
:data:`~dataqual.imageset.MISSING_LABEL`. Ids are ``<split>/<position>``.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.lib.format as npformat

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MAX_EXPANSION,
    MISSING_LABEL,
    ImageBatch,
    SplitInfo,
    position_ids,
)
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.split import order_splits
from dataqual.ingest.values import clean_labels, clean_pixel_values

__all__ = ["NpzSource"]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: Deflate cannot expand data by more than ~1032:1; a member claiming more is forged.
_MAX_DEFLATE_RATIO = 1100
_NUMERIC_KINDS = "uif"
#: Source bytes of images per chunk (float64 values take several copies while cleaned).
_CHUNK_BYTES = 32 << 20


@dataclass(frozen=True)
class _Member:
    """One ``.npy`` member of the archive, from its header."""

    key: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # bytes of .npy header before the data

    @property
    def count(self) -> int:
        return self.shape[0] if self.shape else 0

    @property
    def row_values(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64))


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    KeyError,
    RuntimeError,
)


def _read_header(
    path: Path, archive: zipfile.ZipFile, key: str, archive_size: int, max_expansion: float
) -> _Member:
    """A member's checked ``.npy`` header; only its few header bytes are decompressed."""
    info = archive.getinfo(key + ".npy")
    if info.compress_size > archive_size:
        raise TruncatedError(
            path,
            f"array {key!r} claims {info.compress_size} compressed bytes, "
            f"the file holds {archive_size}",
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise FormatError(path, f"array {key!r}: stored zip entry sizes disagree")
    if info.compress_type != zipfile.ZIP_STORED and (
        info.file_size > info.compress_size * _MAX_DEFLATE_RATIO + 4096
    ):
        raise FormatError(
            path,
            f"array {key!r} claims {info.file_size} bytes from "
            f"{info.compress_size} compressed bytes, more than compression "
            "can produce",
            hint="the archive is corrupt or forged",
        )
    try:
        with archive.open(info) as f:
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
            else:
                raise FormatError(
                    path, f"array {key!r} uses .npy format {version}, only 1.0 and 2.0 are read"
                )
            offset = f.tell()
    except _ZIP_ERRORS as exc:
        if isinstance(exc, SourceError):
            raise
        raise FormatError(path, f"array {key!r} has a bad .npy header: {exc}") from exc
    if dtype.hasobject:
        raise FormatError(
            path,
            f"array {key!r} holds Python objects (dtype {dtype}); they "
            "would need unpickling, which is refused",
            hint="save numbers: x as uint8, y as integers",
        )
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        raise FormatError(path, f"array {key!r} has dtype {dtype}; expected integers or floats")
    if fortran and sum(int(d) > 1 for d in shape) > 1:
        raise FormatError(
            path,
            f"array {key!r} of shape {tuple(shape)} is stored in Fortran (column-major) "
            "order, which cannot be read one image at a time",
            hint=f"save it row-major: np.savez(..., {key}=np.ascontiguousarray({key}))",
        )
    member = _Member(key, info, tuple(int(d) for d in shape), dtype, bool(fortran), offset)
    declared = offset + int(np.prod(member.shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != declared:
        kind = TruncatedError if info.file_size < declared else FormatError
        raise kind(
            path,
            f"array {key!r} header declares shape {member.shape} of {dtype} "
            f"({declared} bytes) but its zip entry holds {info.file_size} bytes",
        )
    if info.compress_type != zipfile.ZIP_STORED:
        check_expansion(path, f"array {key!r}", declared, info.compress_size, max_expansion)
    return member


class NpzSource:
    """A Keras-style ``.npz`` archive of ``x_<split>`` / ``y_<split>`` arrays."""

    def __init__(self, path: str | Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION) -> None:
        """Read and check the headers only. A compressed member, or the arrays read all
        together, expanding more than ``max_expansion`` times their bytes on disk (past
        the 64 MiB floor) are refused before any data is decompressed."""
        path = Path(path)
        require_regular_file(path, resolved_root(path))  # the policy: stat before any open
        size = path.stat().st_size
        if size == 0:
            raise TruncatedError(path, "file is empty")
        with path.open("rb") as f:
            if f.read(4) not in _ZIP_MAGICS:
                raise FormatError(
                    path,
                    "not an .npz archive (no zip magic)",
                    hint="an .npz is a zip of .npy arrays, e.g. Keras mnist.npz",
                )
        try:
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.files)
                arrays = set(npz.zip.namelist())
                members = {
                    k: _read_header(path, npz.zip, k, size, max_expansion)
                    for k in keys
                    if k.startswith(("x_", "y_")) and f"{k}.npy" in arrays
                }
        except _ZIP_ERRORS as exc:
            if isinstance(exc, SourceError):
                raise
            raise FormatError(path, f"cannot open as .npz: {exc}") from exc
        # Many members each under the floor can still add up: the arrays read, all together.
        total = sum(m.info.file_size for m in members.values())
        check_expansion(path, f"its {len(members)} arrays", total, size, max_expansion)
        self._path = path
        self._pairs: dict[str, tuple[_Member, _Member]] = {}
        for key in sorted(members):
            if not key.startswith("x_"):
                continue
            split = key[2:]
            y = members.get("y_" + split)
            if y is None:
                raise FormatError(
                    path,
                    f"array {key!r} has no labels {'y_' + split!r}",
                    hint=f"arrays found: {', '.join(keys)}",
                )
            self._pairs[split] = (members[key], y)
        orphans = [k for k in members if k.startswith("y_") and k[2:] not in self._pairs]
        if orphans:
            missing = "x_" + orphans[0][2:]
            raise FormatError(path, f"labels {orphans[0]!r} have no images {missing!r}")
        if not self._pairs:
            raise FormatError(
                path,
                f"no x_<split>/y_<split> arrays; arrays found: {', '.join(keys) or 'none'}",
                hint="expected x_train, y_train, x_test, y_test",
            )
        shapes = set()
        for x, y in self._pairs.values():
            xs = x.shape
            if not (len(xs) == 3 or (len(xs) == 4 and xs[3] == 1)) or 0 in xs[1:3]:
                raise FormatError(
                    path,
                    f"array {x.key!r} has shape {xs}; expected (n, H, W) "
                    "or (n, H, W, 1) grayscale images",
                )
            if not (len(y.shape) == 1 or (len(y.shape) == 2 and y.shape[1] == 1)):
                raise FormatError(path, f"array {y.key!r} has shape {y.shape}; expected (n,)")
            if y.count != x.count:
                raise FormatError(
                    path,
                    f"array {x.key!r} holds {x.count} images but {y.key!r} holds {y.count} labels",
                )
            shapes.add(xs[1:3])
        if len(shapes) > 1:
            raise FormatError(path, f"splits have different image shapes: {sorted(shapes)}")
        self._shape: tuple[int, int] = shapes.pop()

    @property
    def description(self) -> str:
        return str(self._path)

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    def splits(self) -> list[SplitInfo]:
        return [
            SplitInfo(s, self._pairs[s][0].count, (self._path,)) for s in order_splits(self._pairs)
        ]

    def files(self) -> list[Path]:
        return [self._path]

    def _chunks(self, archive: zipfile.ZipFile, member: _Member, rows: int) -> Iterator[np.ndarray]:
        """Row chunks of one array, as flat (k, values per row) arrays (a Fortran-ordered
        member reaching here has the row-major layout: one dimension larger than 1)."""
        per_row = member.row_values
        row_bytes = per_row * member.dtype.itemsize
        with archive.open(member.info) as f:
            _read(f, member.offset, self._path, member.key, 0)
            for start in range(0, member.count, rows):
                k = min(rows, member.count - start)
                data = _read(f, k * row_bytes, self._path, member.key, start)
                yield np.frombuffer(data, dtype=member.dtype).reshape(k, per_row)
            _read(f, 1, self._path, member.key, member.count, probe=True)

    def labels(self, split: str) -> np.ndarray:
        """All labels of a split (the ``y`` array, read in chunks)."""
        _, y = self._pairs[split]
        with self._archive() as archive:
            parts = [_labels(c[:, 0]) for c in self._chunks(archive, y, DEFAULT_BATCH_ROWS)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def _archive(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self._path)
        except _ZIP_ERRORS as exc:
            raise FormatError(self._path, f"cannot open as .npz: {exc}") from exc

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Stream a split in chunks of ``rows`` records (fewer when ``rows`` of them would hold
        more than ``_CHUNK_BYTES``), images and labels side by side."""
        x, y = self._pairs[split]
        h, w = self._shape
        # Fewer rows when they are large: a chunk holds at most _CHUNK_BYTES of source values.
        rows = max(1, min(rows, _CHUNK_BYTES // max(1, x.row_values * x.dtype.itemsize)))
        start = 0
        with self._archive() as archive:
            for xs, ys in zip(
                self._chunks(archive, x, rows), self._chunks(archive, y, rows), strict=True
            ):
                n = len(xs)
                batch_kw: dict = {}
                if x.dtype == np.uint8:
                    images = xs.reshape(n, h, w)
                else:
                    pv = clean_pixel_values(xs)
                    images = pv.pixels.reshape(n, h, w)
                    batch_kw = {
                        "defects": pv.defects(),
                        "raw_min": pv.raw_min,
                        "raw_max": pv.raw_max,
                    }
                yield ImageBatch(
                    split=split,
                    ids=position_ids(split, start, start + n),
                    labels=_labels(ys[:, 0]),
                    images=images,
                    positions=np.arange(start, start + n, dtype=np.int64),
                    **batch_kw,
                )
                start += n


def _labels(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "iu" and values.dtype.itemsize <= 8 and values.dtype != np.uint64:
        out = values.astype(np.int64)
        out[out < 0] = MISSING_LABEL
        return out
    return clean_labels(values.astype(np.float64))


def _read(
    f: IO[bytes], size: int, path: Path, key: str, record: int, *, probe: bool = False
) -> bytes:
    """Exactly ``size`` bytes of a zip member; short reads and bad data become our errors
    naming the array and record (``probe``: expect the end of the member)."""
    try:
        data = f.read(size)
    except _ZIP_ERRORS as exc:
        raise FormatError(path, f"array {key!r} is corrupt ({exc})", record=record) from exc
    if probe:
        if data:
            raise FormatError(path, f"array {key!r} continues after its {record} declared rows")
        return data
    if len(data) < size:
        raise TruncatedError(path, f"array {key!r} ends early", record=record)
    return data
