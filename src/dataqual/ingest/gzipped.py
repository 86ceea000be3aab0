"""Gzip opening and sniffing, shared by every reader of possibly compressed files.

A file is gzip when it starts with the gzip magic, whatever its name; several members one
after the other (``cat a.gz b.gz``) read as one stream. Every open goes through the file
policy of :mod:`dataqual.ingest.paths` first, so a FIFO or device swapped in since the
source was opened is never opened.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from dataqual.errors import SourceError
from dataqual.ingest.paths import require_regular_file

__all__ = [
    "GZIP_MAGIC",
    "MAX_DEFLATE_RATIO",
    "SNIFF_BYTES",
    "CappedReader",
    "gunzip_head",
    "gzip_trailer",
    "is_gzip",
    "open_maybe_gzip",
]

GZIP_MAGIC = b"\x1f\x8b"
#: Deflate cannot expand data by more than ~1032:1 (gzip members only add overhead): a
#: size claimed beyond this many bytes per compressed byte is forged or cut.
MAX_DEFLATE_RATIO = 1100
#: Bytes of a file's head read (decompressed) to detect its format.
SNIFF_BYTES = 64 << 10


def is_gzip(path: Path) -> bool:
    """Whether ``path`` (a regular file, checked first) starts with the gzip magic."""
    require_regular_file(path)
    with path.open("rb") as probe:
        return probe.read(2) == GZIP_MAGIC


def open_maybe_gzip(path: Path) -> BinaryIO:
    """``path`` opened for binary reading, decompressed when it is gzip."""
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def gzip_trailer(path: Path) -> int | None:
    """The last gzip member's ISIZE trailer (its uncompressed size mod 2**32), read without
    decompressing; None when the file is too short to hold a whole member."""
    if path.stat().st_size < 18:
        return None
    with path.open("rb") as f:
        f.seek(-4, io.SEEK_END)
        return int(struct.unpack("<I", f.read(4))[0])


def gunzip_head(path: Path, data: bytes, limit: int = SNIFF_BYTES) -> bytes:
    """The first ``limit`` decompressed bytes of gzip ``data`` (the head of ``path``), read
    on through the next members. Only the head: a cut stream is the reader's to report."""
    out = b""
    try:
        while data[:2] == GZIP_MAGIC and len(out) < limit:
            member = zlib.decompressobj(wbits=31)
            out += member.decompress(data, limit - len(out))
            if not member.eof:
                break
            data = member.unused_data
    except zlib.error as exc:
        raise SourceError(path, f"gzip file cannot be decompressed: {exc}") from exc
    return out


class CappedReader(io.RawIOBase):
    """A gzip file read through, counting the decompressed bytes handed out, that ends (as
    if at EOF) one byte past ``limit``: a reader that reads ahead (pyarrow) then never
    decompresses a bomb the ISIZE trailer under-reports. ``over`` says the cap was hit."""

    def __init__(self, f: gzip.GzipFile, limit: int) -> None:
        super().__init__()
        self._f = f
        self._limit = limit
        self.count = 0

    @property
    def over(self) -> bool:
        return self.count > self._limit

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        left = self._limit + 1 - self.count
        if left <= 0:
            return b""
        data = self._f.read(left if size is None or size < 0 else min(size, left))
        self.count += len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()
