"""Reproducible gzip: fixed mtime, chosen level, optionally the file name in the header."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

__all__ = ["gzip_bytes", "write_file"]


def gzip_bytes(raw: bytes, *, level: int = 9, name: str | None = None) -> bytes:
    """``raw`` as one gzip member with ``mtime=0``, so equal input gives equal bytes.

    ``name`` is stored in the header's FNAME field (without a ``.gz`` suffix), as
    ``gzip.open(path, "wb")`` does; ``None`` stores no name, as ``gzip.compress`` does.
    """
    sink = io.BytesIO()
    with gzip.GzipFile(
        filename=name or "", mode="wb", compresslevel=level, fileobj=sink, mtime=0
    ) as f:
        f.write(raw)
    return sink.getvalue()


def write_file(
    path: str | Path, raw: bytes, *, gz: bool = False, level: int = 9, header_name: bool = False
) -> Path:
    """Write ``raw`` at exactly ``path`` (parents created), gzip-compressed when ``gz``.

    ``header_name`` stores the file's name in the gzip header (what ``gzip.open`` writes).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        raw = gzip_bytes(raw, level=level, name=path.name if header_name else None)
    path.write_bytes(raw)
    return path
