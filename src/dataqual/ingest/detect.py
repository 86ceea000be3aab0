"""Naming the format of a path from its content (magic bytes, layout), not its name alone.

Each registered reader recognises its own format (:mod:`dataqual.ingest.formats`); the
built-in ones, in order:

* a folder with IDX image/label pairs -> ``idx``; with ``manifest.json`` or Parquet files
  (``*.parquet`` or ``<split>/*.parquet``) -> ``parquet``; with ``*.csv``/``*.csv.gz``
  files -> ``csv``; with class folders of image files -> ``images``;
* a file starting with the zip magic ``PK`` -> ``npz``; with ``PAR1`` -> ``parquet``;
  gzip-compressed or plain text with commas -> ``csv``.

Before any reader is asked, a file that is one array (``.npy``), one image or one IDX file
is refused with a hint, and an empty file is a TruncatedError. Only ``stat`` is called on
a path before it is known to be a regular file inside the source.
"""

from __future__ import annotations

import os
from pathlib import Path

from dataqual.errors import SourceError, TruncatedError
from dataqual.ingest.formats import FORMATS, Probe, readers
from dataqual.ingest.gzipped import GZIP_MAGIC, SNIFF_BYTES, gunzip_head
from dataqual.ingest.paths import require_regular_file, resolved_root

__all__ = ["detect_format", "probe"]

_IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def _refuse_lone_file(path: Path, head: bytes, text: bytes) -> None:
    """A file that holds a piece of a dataset, not a dataset: say what to point at."""
    if head[:6] == b"\x93NUMPY":
        raise SourceError(
            path,
            "a single .npy array is not a dataset",
            hint="save x_train, y_train, x_test, y_test together with np.savez",
        )
    if head.startswith(_IMAGE_MAGICS):
        raise SourceError(
            path,
            "a single image is not a dataset",
            hint="point at the folder holding <label>/ image folders",
        )
    if text[:3] == b"\x00\x00\x08":
        raise SourceError(
            path,
            "an IDX file on its own is not a dataset",
            hint="point at the folder holding the images and labels files",
        )


def probe(path: Path) -> Probe:
    """What detection looks at; a lone array, image or IDX file is refused here."""
    if path.is_dir():
        return Probe(path, True)
    require_regular_file(path, resolved_root(path))  # stat only: no open() of a FIFO/device
    if path.stat().st_size == 0:
        raise TruncatedError(path, "file is empty")
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    text = gunzip_head(path, head) if head[:2] == GZIP_MAGIC else head
    _refuse_lone_file(path, head, text)
    return Probe(path, False, head, text)


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its content (magic bytes, layout), not its name alone."""
    path = Path(path)
    if not os.path.lexists(path):
        raise SourceError(path, "no such file or folder")
    try:
        seen = probe(path)
        found = next((e.name for e in readers() if e.detect is not None and e.detect(seen)), None)
    except PermissionError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror}") from exc
    if found is None:
        raise SourceError(
            path,
            f"cannot tell the format of this {'folder' if seen.is_dir else 'file'}",
            hint=f"pass --format, one of: {', '.join(sorted(FORMATS))}",
        )
    return found
