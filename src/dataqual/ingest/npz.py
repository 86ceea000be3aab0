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
from the headers (:func:`~dataqual.ingest.limits.check_expansion`, :mod:`.npz_header`).
A Fortran-ordered array (``np.savez`` of a transposed or column-major array) keeps each
pixel of all images together, so no image can be read without inflating the whole
member: it is refused with a :class:`FormatError` saying how to save it
(``np.ascontiguousarray``), unless its layout equals the row-major one (one dimension
larger than 1).

Images that are not uint8 (int64, float) are cleaned by
:func:`~dataqual.ingest.values.clean_pixel_values` (``missing_pixels``,
``pixels_out_of_range``, ``raw_min``/``raw_max``; a float image in [0, 1] is scaled to
0..255 and counted as ``rescaled``). Labels that are not non-negative integers become
:data:`~dataqual.imageset.MISSING_LABEL`. Ids are ``<split>/<position>``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import DEFAULT_BATCH_ROWS, DEFAULT_MAX_EXPANSION, MISSING_LABEL, SplitInfo
from dataqual.ingest.formats import Probe, register_reader
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.npz_header import ZIP_ERRORS, NpyMember, read_member_header
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.reader import Reader, Records, wrap_errors
from dataqual.ingest.split import order_splits
from dataqual.ingest.values import clean_labels, clean_pixel_values

__all__ = ["NpzSource"]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: Source bytes of images per chunk (float64 values take several copies while cleaned).
_CHUNK_BYTES = 32 << 20


def _members(path: Path, size: int, max_expansion: float) -> tuple[list[str], dict[str, NpyMember]]:
    """Every array name of the archive, and the ``x_*``/``y_*`` members with checked headers."""
    with path.open("rb") as f:
        if f.read(4) not in _ZIP_MAGICS:
            raise FormatError(
                path,
                "not an .npz archive (no zip magic)",
                hint="an .npz is a zip of .npy arrays, e.g. Keras mnist.npz",
            )
    failed = wrap_errors(path, "cannot open as .npz: {exc}", errors=ZIP_ERRORS)
    with failed, np.load(path, allow_pickle=False) as npz:
        keys = list(npz.files)
        arrays = set(npz.zip.namelist())
        members = {
            k: read_member_header(path, npz.zip, k, size, max_expansion)
            for k in keys
            if k.startswith(("x_", "y_")) and f"{k}.npy" in arrays
        }
    # Many members each under the floor can still add up: the arrays read, all together.
    total = sum(m.info.file_size for m in members.values())
    check_expansion(path, f"its {len(members)} arrays", total, size, max_expansion)
    return keys, members


def _pairs(
    path: Path, keys: list[str], members: dict[str, NpyMember]
) -> dict[str, tuple[NpyMember, NpyMember]]:
    """Split -> (x, y) members; an ``x`` without its ``y`` or the reverse is an error."""
    pairs: dict[str, tuple[NpyMember, NpyMember]] = {}
    for key in sorted(k for k in members if k.startswith("x_")):
        y = members.get("y_" + key[2:])
        if y is None:
            raise FormatError(
                path,
                f"array {key!r} has no labels {'y_' + key[2:]!r}",
                hint=f"arrays found: {', '.join(keys)}",
            )
        pairs[key[2:]] = (members[key], y)
    orphans = [k for k in members if k.startswith("y_") and k[2:] not in pairs]
    if orphans:
        raise FormatError(path, f"labels {orphans[0]!r} have no images {'x_' + orphans[0][2:]!r}")
    if not pairs:
        raise FormatError(
            path,
            f"no x_<split>/y_<split> arrays; arrays found: {', '.join(keys) or 'none'}",
            hint="expected x_train, y_train, x_test, y_test",
        )
    return pairs


def _image_shape(path: Path, pairs: dict[str, tuple[NpyMember, NpyMember]]) -> tuple[int, int]:
    """The one image shape of every split, shapes and counts checked."""
    shapes = set()
    for x, y in pairs.values():
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
        shapes.add((xs[1], xs[2]))
    if len(shapes) > 1:
        raise FormatError(path, f"splits have different image shapes: {sorted(shapes)}")
    return shapes.pop()


def _detect(probe: Probe) -> bool:
    return not probe.is_dir and probe.head[:4] in _ZIP_MAGICS


@register_reader("npz", detect=_detect, priority=20)
class NpzSource(Reader):
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
        keys, members = _members(path, size, max_expansion)
        self._path = path
        self._description = str(path)
        self._pairs = _pairs(path, keys, members)
        self._shape: tuple[int, int] = _image_shape(path, self._pairs)

    @classmethod
    def open(
        cls, path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION, **options: Any
    ) -> NpzSource:
        if Path(path).is_dir():
            raise SourceError(path, "an npz source is one .npz file, not a folder")
        return cls(path, max_expansion=max_expansion)

    def splits(self) -> list[SplitInfo]:
        return [
            SplitInfo(s, self._pairs[s][0].count, (self._path,)) for s in order_splits(self._pairs)
        ]

    def files(self) -> list[Path]:
        return [self._path]

    def _chunks(
        self, archive: zipfile.ZipFile, member: NpyMember, rows: int
    ) -> Iterator[np.ndarray]:
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
        with wrap_errors(self._path, "cannot open as .npz: {exc}", errors=ZIP_ERRORS):
            return zipfile.ZipFile(self._path)

    def chunk_rows(self, split: str, rows: int) -> int:
        """Fewer rows when they are large: a chunk holds at most ``_CHUNK_BYTES`` of source
        values."""
        x = self._pairs[split][0]
        return max(1, min(rows, _CHUNK_BYTES // max(1, x.row_values * x.dtype.itemsize)))

    def records(self, split: str, rows: int) -> Iterator[Records]:
        """Images and labels side by side, in chunks of ``rows``; images that are not uint8
        are cleaned (see the module docstring)."""
        x, y = self._pairs[split]
        h, w = self._shape
        with self._archive() as archive:
            for xs, ys in zip(
                self._chunks(archive, x, rows), self._chunks(archive, y, rows), strict=True
            ):
                n = len(xs)
                if x.dtype == np.uint8:
                    yield Records(labels=_labels(ys[:, 0]), images=xs.reshape(n, h, w))
                    continue
                pv = clean_pixel_values(xs)
                yield Records(
                    labels=_labels(ys[:, 0]),
                    images=pv.pixels.reshape(n, h, w),
                    defects=pv.defects(),
                    raw_min=pv.raw_min,
                    raw_max=pv.raw_max,
                )


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
    problem = f"array {key!r} is corrupt ({{exc}})"
    with wrap_errors(path, problem, record=record, errors=ZIP_ERRORS):
        data = f.read(size)
    if probe:
        if data:
            raise FormatError(path, f"array {key!r} continues after its {record} declared rows")
        return data
    if len(data) < size:
        raise TruncatedError(path, f"array {key!r} ends early", record=record)
    return data
