"""The one entry point, :func:`open_source`: detect the format (or take the one given),
open it with its registered reader, and apply the size limits every reader shares.

``format=`` forces a reader. Readers stream; see each module for what it accepts. Every
reader follows one file policy (:mod:`dataqual.ingest.paths`): only regular files inside
the source are opened, so a device, FIFO, socket, broken link or a link leading out of the
source is a :class:`~dataqual.errors.SourceError` naming it, before any ``open()``.
"""

from __future__ import annotations

import os
from pathlib import Path

from dataqual.errors import ConfigError, SourceError
from dataqual.imageset import DEFAULT_MAX_EXPANSION, DEFAULT_MAX_IMAGE_SIDE, ImageSource
from dataqual.ingest.detect import detect_format
from dataqual.ingest.formats import FORMAT_OPTIONS, FORMATS, reader_class
from dataqual.ingest.limits import check_image_side
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.reader import SourceOrigin
from dataqual.ingest.split import SplitSpec, StratifiedSplitSource

__all__ = ["FORMATS", "FORMAT_OPTIONS", "detect_format", "open_source"]


def _check_options(
    path: Path,
    fmt: str,
    options: dict[str, object],
    max_image_side: int,
    max_expansion: float,
) -> None:
    extra = sorted(set(options) - FORMAT_OPTIONS[fmt])
    if extra:
        raise ConfigError(f"option {', '.join(extra)} does not apply to format {fmt!r}")
    shape = options.get("shape")
    if shape is not None:
        if len(shape) != 2 or min(shape) <= 0:  # type: ignore[arg-type]
            raise ConfigError(f"shape must be (height, width) with positive sizes, got {shape!r}")
        check_image_side(path, shape, max_image_side)  # type: ignore[arg-type]
    if not max_expansion > 0:  # also refuses NaN
        raise ConfigError(f"max_expansion must be a positive number, got {max_expansion!r}")


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
    reader = reader_class(fmt)
    given = {
        "shape": shape,
        "label_column": label_column,
        "image_column": image_column,
        "split_column": split_column,
    }
    options = {k: v for k, v in given.items() if v is not None}
    _check_options(path, fmt, options, max_image_side, max_expansion)
    source = reader.open(path, **options, max_expansion=max_expansion)
    check_image_side(path, source.shape, max_image_side)
    source.check_limits()  # e.g. Parquet's expansion check, deferred while the side was unknown
    limits = {"max_image_side": max_image_side, "max_expansion": max_expansion}
    source.origin = SourceOrigin(path, fmt, tuple({**options, **limits}.items()))
    if split is not None:
        return StratifiedSplitSource(source, split)
    return source
