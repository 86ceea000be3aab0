"""IDX headers, parsed and checked against the file's size before anything is allocated.

An IDX file is two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, one big-endian uint32 per dimension, then the values row-major. A header that
claims 10^9 images costs nothing, and a gzip file whose header declares more than
``max_expansion`` bytes per byte on disk (past the 64 MiB floor) is refused as a
decompression bomb (:func:`~dataqual.ingest.limits.check_expansion`).
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dataqual.errors import FormatError, TruncatedError
from dataqual.imageset import DEFAULT_MAX_EXPANSION
from dataqual.ingest.gzipped import MAX_DEFLATE_RATIO, gzip_trailer, open_maybe_gzip
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.reader import wrap_errors

__all__ = ["IdxHeader", "read_idx_header"]

_UBYTE = 0x08
_TYPE_NAMES = {
    0x08: "ubyte",
    0x09: "byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}
_COUNT_CHUNK = 1 << 20


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

    def complete(self, data_bytes: int) -> int:
        """Whole records in the first ``data_bytes`` bytes of the file (header included)."""
        return min(self.count, max(0, (data_bytes - self.header_bytes) // self.record_bytes))


def _gzip_length(header: IdxHeader, declared: int) -> int:
    """Uncompressed bytes of a gzip file, every member counted, by streaming it in 1 MiB
    chunks; stops at ``declared + 1`` so data beyond what the header declares (a gzip bomb)
    is never decompressed. A corrupt or cut stream is a TruncatedError naming the record."""
    count = 0

    def cut(exc: BaseException) -> TruncatedError:
        problem = f"compressed stream is corrupt or truncated ({exc})"
        return TruncatedError(header.path, problem, record=header.complete(count))

    with wrap_errors(header.path, cut), gzip.open(header.path, "rb") as f:
        while count <= declared:
            chunk = f.read(min(_COUNT_CHUNK, declared + 1 - count))
            if not chunk:
                break
            count += len(chunk)
    return count


def _check_gzip_size(
    header: IdxHeader, declared: int, size: int, max_expansion: float | None
) -> None:
    """A gzip file must decompress to exactly ``declared`` bytes. The ISIZE trailer
    settles the usual one-member file without decompressing; when it disagrees (several
    members, a cut file, a wrong header) the members are counted by streaming. Before any
    counting, a claim deflate cannot satisfy is refused, then one expanding more than
    ``max_expansion`` times the file (None: no limit)."""
    path = header.path
    trailer = gzip_trailer(path)
    if trailer is None:
        raise TruncatedError(path, f"gzip file of {size} bytes is too short to hold any data")
    trailer_agrees = trailer == declared % 2**32
    claim = f"header declares {header.count} records ({declared} bytes uncompressed)"
    if not trailer_agrees and declared > size * MAX_DEFLATE_RATIO:
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
        raise TruncatedError(
            path,
            f"{claim} but the file decompresses to {actual} bytes",
            record=header.complete(actual),
            hint="the file is truncated or its header is wrong",
        )


def _read_dims(path: Path, f: BinaryIO, expected_ndim: int | None) -> tuple[int, ...]:
    """The dimensions of the header at the start of ``f``, magic and type checked."""
    head = f.read(4)
    if len(head) < 4:
        raise TruncatedError(path, f"file ends inside the IDX header ({len(head)} of 4 bytes)")
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
    return tuple(int(d) for d in struct.unpack(f">{ndim}I", raw_dims))


def _check_plain_size(header: IdxHeader, declared: int) -> None:
    """An uncompressed file must hold exactly what its header declares."""
    actual = header.path.stat().st_size
    if actual == declared:
        return
    problem = (
        f"header declares {header.count} records of {header.record_bytes} bytes "
        f"({declared} bytes in all) but the file holds {actual} bytes"
    )
    if actual < declared:
        # Name the first record that is missing or cut short, as the streaming read would.
        raise TruncatedError(header.path, problem, record=header.complete(actual))
    raise FormatError(header.path, problem)


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
    with wrap_errors(path, "cannot decompress: {exc}"), open_maybe_gzip(path) as f:
        compressed = isinstance(f, gzip.GzipFile)
        dims = _read_dims(path, f, expected_ndim)
    header = IdxHeader(path, dims, 4 + 4 * len(dims), compressed)
    if any(d == 0 for d in header.record_shape):
        raise FormatError(path, f"IDX record shape {header.record_shape} has a zero dimension")
    declared = header.header_bytes + header.count * header.record_bytes
    if compressed:
        _check_gzip_size(header, declared, path.stat().st_size, max_expansion)
    else:
        _check_plain_size(header, declared)
    return header
