"""Format detection and the one entry point, :func:`open_source`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dataqual.errors import ConfigError, SourceError
from dataqual.imageset import ImageSource
from dataqual.ingest.idx import IdxSource, find_idx_pairs

__all__ = ["FORMATS", "detect_format", "open_source"]


def _open_idx(path: Path) -> ImageSource:
    if path.is_dir():
        return IdxSource.from_folder(path)
    raise SourceError(path, "an IDX source is a folder holding *-images-idx3-ubyte[.gz] and "
                            "*-labels-idx1-ubyte[.gz] files")


#: Format name -> opener. Each opener takes the path given by the user.
FORMATS: dict[str, Callable[[Path], ImageSource]] = {
    "idx": _open_idx,
}


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its content (magic bytes, layout), not its name alone."""
    path = Path(path)
    if not path.exists():
        raise SourceError(path, "no such file or folder")
    if path.is_dir() and find_idx_pairs(path):
        return "idx"
    raise SourceError(path, "cannot tell the format of this source",
                      hint=f"pass --format, one of: {', '.join(sorted(FORMATS))}")


def open_source(path: str | Path, format: str | None = None) -> ImageSource:
    """Open a dataset for streaming; ``format`` forces a reader instead of detection."""
    path = Path(path)
    if not path.exists():
        raise SourceError(path, "no such file or folder")
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known formats: {', '.join(sorted(FORMATS))}")
    return FORMATS[fmt](path)
