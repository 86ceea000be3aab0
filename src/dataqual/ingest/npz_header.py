"""The ``.npy`` headers of an ``.npz`` archive's members, checked before any data is read.

Only a member's few header bytes are decompressed. Refused, naming the file and the
array: an object (pickled) array, a dtype that is not a number, a Fortran-ordered array
that cannot be read one image at a time, a zip entry whose size disagrees with the header,
and a deflated member that claims more than deflate can produce or expands more than
``max_expansion`` times its compressed size (a decompression bomb).
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat

from dataqual.errors import FormatError, TruncatedError
from dataqual.ingest.gzipped import MAX_DEFLATE_RATIO
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.reader import wrap_errors

__all__ = ["ZIP_ERRORS", "NpyMember", "read_member_header"]

_NUMERIC_KINDS = "uif"

#: What reading a zip archive can raise for a bad archive.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    KeyError,
    RuntimeError,
)


@dataclass(frozen=True)
class NpyMember:
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


def _check_entry(path: Path, info: zipfile.ZipInfo, key: str, archive_size: int) -> None:
    """Zip entry sizes that no real member has."""
    if info.compress_size > archive_size:
        raise TruncatedError(
            path,
            f"array {key!r} claims {info.compress_size} compressed bytes, "
            f"the file holds {archive_size}",
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise FormatError(path, f"array {key!r}: stored zip entry sizes disagree")
    if info.compress_type != zipfile.ZIP_STORED and (
        info.file_size > info.compress_size * MAX_DEFLATE_RATIO + 4096
    ):
        raise FormatError(
            path,
            f"array {key!r} claims {info.file_size} bytes from "
            f"{info.compress_size} compressed bytes, more than compression "
            "can produce",
            hint="the archive is corrupt or forged",
        )


def _parse(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> NpyMember:
    """The member's ``.npy`` header as read from the archive."""
    failed = wrap_errors(path, f"array {key!r} has a bad .npy header: {{exc}}", errors=ZIP_ERRORS)
    with failed, archive.open(info) as f:
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
    return NpyMember(key, info, tuple(int(d) for d in shape), dtype, bool(fortran), offset)


def _check_dtype(path: Path, member: NpyMember) -> None:
    key, dtype, shape = member.key, member.dtype, member.shape
    if dtype.hasobject:
        raise FormatError(
            path,
            f"array {key!r} holds Python objects (dtype {dtype}); they "
            "would need unpickling, which is refused",
            hint="save numbers: x as uint8, y as integers",
        )
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        raise FormatError(path, f"array {key!r} has dtype {dtype}; expected integers or floats")
    if member.fortran and sum(int(d) > 1 for d in shape) > 1:
        raise FormatError(
            path,
            f"array {key!r} of shape {tuple(shape)} is stored in Fortran (column-major) "
            "order, which cannot be read one image at a time",
            hint=f"save it row-major: np.savez(..., {key}=np.ascontiguousarray({key}))",
        )


def read_member_header(
    path: Path, archive: zipfile.ZipFile, key: str, archive_size: int, max_expansion: float
) -> NpyMember:
    """Member ``key`` (``<key>.npy``) of ``archive`` (the file ``path`` of
    ``archive_size`` bytes) with its header checked; only its header is decompressed."""
    info = archive.getinfo(key + ".npy")
    _check_entry(path, info, key, archive_size)
    member = _parse(path, archive, info, key)
    _check_dtype(path, member)
    dtype = member.dtype
    declared = member.offset + int(np.prod(member.shape, dtype=np.int64)) * dtype.itemsize
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
