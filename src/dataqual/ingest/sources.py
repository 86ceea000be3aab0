"""Format detection and the one entry point, :func:`open_source`.

Detection looks at content, not names alone:

* a folder with IDX image/label pairs -> ``idx``; with ``manifest.json`` or Parquet files
  (``*.parquet`` or ``<split>/*.parquet``) -> ``parquet``; with ``*.csv``/``*.csv.gz``
  files -> ``csv``; with class folders of image files -> ``images``;
* a file starting with the zip magic ``PK`` -> ``npz``; with ``PAR1`` -> ``parquet``;
  gzip-compressed or plain text with commas -> ``csv``.

``format=`` forces a reader. Readers stream; see each module for what it accepts.

Detection and every reader follow one policy (:mod:`dataqual.ingest.paths`): only regular
files inside the source are opened, so a device, FIFO, socket, broken link or a link
leading out of the source is a :class:`~dataqual.errors.SourceError` naming it, before
any ``open()``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from pathlib import Path

from dataqual.errors import ConfigError, SourceError, TruncatedError
from dataqual.imageset import DEFAULT_MAX_EXPANSION, DEFAULT_MAX_IMAGE_SIDE, ImageSource
from dataqual.ingest.csv import CsvSource, find_csv_files
from dataqual.ingest.idx import IdxSource, find_idx_pairs
from dataqual.ingest.images import ImageFolderSource, looks_like_image_folder
from dataqual.ingest.limits import check_image_side
from dataqual.ingest.npz import NpzSource
from dataqual.ingest.parquet import ParquetSource, find_parquet_files
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.split import SplitSpec, StratifiedSplitSource
from dataqual.store.manifest import MANIFEST_NAME

__all__ = ["FORMATS", "FORMAT_OPTIONS", "detect_format", "open_source"]

_SNIFF_BYTES = 64 << 10
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def _open_idx(path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION) -> ImageSource:
    if path.is_dir():
        return IdxSource.from_folder(path, max_expansion=max_expansion)
    raise SourceError(
        path,
        "an IDX source is a folder holding *-images-idx3-ubyte[.gz] and "
        "*-labels-idx1-ubyte[.gz] files",
    )


def _open_npz(path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION) -> ImageSource:
    if path.is_dir():
        raise SourceError(path, "an npz source is one .npz file, not a folder")
    return NpzSource(path, max_expansion=max_expansion)


def _open_csv(
    path: Path,
    *,
    shape: tuple[int, int] | None = None,
    max_expansion: float = DEFAULT_MAX_EXPANSION,
) -> ImageSource:
    return CsvSource.from_path(path, shape=shape, max_expansion=max_expansion)


def _open_images(
    path: Path,
    *,
    shape: tuple[int, int] | None = None,
    max_expansion: float = DEFAULT_MAX_EXPANSION,
) -> ImageSource:
    """``max_expansion`` is accepted like every opener's; image files are decoded one at a
    time under their own pixel limit, so it does not apply."""
    if not path.is_dir():
        raise SourceError(
            path, "an image source is a folder: ROOT/<label>/*.png or ROOT/<split>/<label>/*.png"
        )
    return ImageFolderSource(path, shape=shape)


def _open_parquet(path: Path, **options: object) -> ImageSource:
    return ParquetSource.from_path(path, **options)  # type: ignore[arg-type]


#: Format name -> opener. Each opener takes the path given by the user, the keyword options
#: of :data:`FORMAT_OPTIONS`, and ``max_expansion`` (every format, like ``max_image_side``).
FORMATS: dict[str, Callable[..., ImageSource]] = {
    "idx": _open_idx,
    "npz": _open_npz,
    "csv": _open_csv,
    "images": _open_images,
    "parquet": _open_parquet,
}

#: Keyword options each format's opener accepts.
FORMAT_OPTIONS: dict[str, frozenset[str]] = {
    "idx": frozenset(),
    "npz": frozenset(),
    "csv": frozenset({"shape"}),
    "images": frozenset({"shape"}),
    "parquet": frozenset({"shape", "label_column", "image_column", "split_column"}),
}


def _looks_like_csv(data: bytes) -> bool:
    """Text (no NULs, few control bytes) with commas. Invalid UTF-8 still counts: the CSV
    reader then names the offending line, which helps more than 'unknown format'."""
    if not data or b"\x00" in data or b"," not in data:
        return False
    control = sum(data.count(bytes([c])) for c in range(32) if c not in (9, 10, 13))
    return control * 100 <= len(data)


def _gunzip_head(path: Path, data: bytes) -> bytes:
    """The first :data:`_SNIFF_BYTES` decompressed bytes of the gzip data ``data`` (the head
    of a file), read on through the next members of a multi-member file. Only the head:
    a truncated stream is the reader's to report."""
    out = b""
    try:
        while data[:2] == _GZIP_MAGIC and len(out) < _SNIFF_BYTES:
            member = zlib.decompressobj(wbits=31)
            out += member.decompress(data, _SNIFF_BYTES - len(out))
            if not member.eof:
                break
            data = member.unused_data
    except zlib.error as exc:
        raise SourceError(path, f"gzip file cannot be decompressed: {exc}") from exc
    return out


def _detect_file(path: Path) -> str:
    require_regular_file(path, resolved_root(path))  # stat only: no open() of a FIFO/device
    if path.stat().st_size == 0:
        raise TruncatedError(path, "file is empty")
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if head[:4] in _ZIP_MAGICS:
        return "npz"
    if head[:4] == b"PAR1":
        return "parquet"
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
    if head[:2] == _GZIP_MAGIC:
        head = _gunzip_head(path, head)
    if head[:3] == b"\x00\x00\x08":
        raise SourceError(
            path,
            "an IDX file on its own is not a dataset",
            hint="point at the folder holding the images and labels files",
        )
    if _looks_like_csv(head):
        return "csv"
    raise SourceError(
        path,
        "cannot tell the format of this file",
        hint=f"pass --format, one of: {', '.join(sorted(FORMATS))}",
    )


def _detect_folder(path: Path) -> str:
    if find_idx_pairs(path):
        return "idx"
    # A manifest lists the shards (other files are not read): it decides before any scan.
    # lexists: a manifest that is a FIFO or a broken link is the Parquet reader's to refuse.
    if os.path.lexists(path / MANIFEST_NAME):
        return "parquet"
    by_dir, flat = find_parquet_files(path)
    if by_dir or flat:
        return "parquet"
    if find_csv_files(path):
        return "csv"
    if looks_like_image_folder(path):
        return "images"
    raise SourceError(
        path,
        "cannot tell the format of this folder",
        hint=f"pass --format, one of: {', '.join(sorted(FORMATS))}",
    )


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its content (magic bytes, layout), not its name alone."""
    path = Path(path)
    if not os.path.lexists(path):
        raise SourceError(path, "no such file or folder")
    try:
        return _detect_folder(path) if path.is_dir() else _detect_file(path)
    except PermissionError as exc:
        raise SourceError(path, f"cannot read: {exc.strerror}") from exc


def open_source(
    path: str | Path,
    format: str | None = None,
    *,
    split: SplitSpec | None = None,
    shape: tuple[int, int] | None = None,
    label_column: str | None = None,
    image_column: str | None = None,
    split_column: str | None = None,
    max_image_side: int = DEFAULT_MAX_IMAGE_SIDE,
    max_expansion: float = DEFAULT_MAX_EXPANSION,
) -> ImageSource:
    """Open a dataset for streaming; ``format`` forces a reader instead of detection.

    ``split`` cuts a single-split source into train/test (see
    :class:`~dataqual.ingest.split.SplitSpec`); ``shape`` fixes the image shape (csv,
    images, parquet); the ``*_column`` options name Parquet columns. An option the format
    does not take is a :class:`~dataqual.errors.ConfigError`. Images taller or wider than
    ``max_image_side`` are refused (:class:`~dataqual.errors.SourceError`) from the headers,
    before any image is read; so are compressed sources expanding to more than
    ``max(EXPANSION_FLOOR_BYTES, max_expansion * bytes on disk)`` (a decompression bomb).
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise SourceError(path, "no such file or folder")
    if not path.is_dir():  # a single-file source, whatever the format: the policy first
        require_regular_file(path, resolved_root(path))
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known formats: {', '.join(sorted(FORMATS))}")
    options = {
        k: v
        for k, v in {
            "shape": shape,
            "label_column": label_column,
            "image_column": image_column,
            "split_column": split_column,
        }.items()
        if v is not None
    }
    extra = sorted(set(options) - FORMAT_OPTIONS[fmt])
    if extra:
        raise ConfigError(f"option {', '.join(extra)} does not apply to format {fmt!r}")
    if shape is not None and (len(shape) != 2 or min(shape) <= 0):
        raise ConfigError(f"shape must be (height, width) with positive sizes, got {shape!r}")
    if shape is not None:
        check_image_side(path, shape, max_image_side)
    if not max_expansion > 0:  # also refuses NaN
        raise ConfigError(f"max_expansion must be a positive number, got {max_expansion!r}")
    source = FORMATS[fmt](path, **options, max_expansion=max_expansion)
    check_image_side(path, source.shape, max_image_side)
    if isinstance(source, ParquetSource):
        source.check_expansion()  # deferred by the reader when the shape is large
    if split is not None:
        source = StratifiedSplitSource(source, split)
    return source
