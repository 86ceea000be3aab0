"""How one CSV file maps to records, worked out from its first non-blank line.

Two layouts are read: no header (``label,p0,p1,...``, label first), or a header naming
the columns: ``label,pixel0..pixel783`` (Kaggle) or ``label,1x1..28x28`` (row x column,
1-based), in any order; a header without a label column gives rows whose label is missing.
A line is a header when it names a label or pixel column, or when at least half its fields
look like names. A gzip file whose ISIZE trailer already says it expands past the limit is
refused here, before anything is decompressed.
"""

from __future__ import annotations

import csv as _stdcsv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataqual.errors import FormatError, TruncatedError
from dataqual.imageset import DEFAULT_MAX_EXPANSION
from dataqual.ingest.gzipped import MAX_DEFLATE_RATIO, gzip_trailer, is_gzip, open_maybe_gzip
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.reader import wrap_errors
from dataqual.ingest.values import LABEL_COLUMNS, label_columns

__all__ = ["BLOCK_BYTES", "CsvLayout", "read_layout"]

#: Bytes pyarrow parses at a time; also the longest row accepted (a 28x28 row is ~3 KB).
BLOCK_BYTES = 4 << 20
#: Most pixel columns a row may have (a 256 x 256 image).
_MAX_PIXELS = 1 << 16
# ASCII digits only, at most 9 of them: ``int()`` then never fails and every index fits
# int64 (a wider one is not a pixel column; the header error names it).
_PIXEL_RE = re.compile(r"(?:pixel|px|p)_?([0-9]{1,9})", re.IGNORECASE)
_ROWCOL_RE = re.compile(r"([0-9]{1,9})\s*x\s*([0-9]{1,9})", re.IGNORECASE)
_NAME_RE = re.compile(r"^[A-Za-z_][\w .-]*$")


@dataclass(frozen=True)
class CsvLayout:
    """How one CSV file maps to records."""

    path: Path
    root: Path  # resolved folder the file must stay inside (re-checked before each open)
    compressed: bool
    header_lines: int  # physical lines before the first data row (blank lines + header)
    ncols: int
    label_col: int | None
    pixel_cols: np.ndarray  # pixel_cols[k] = file column holding row-major pixel k
    shape: tuple[int, int]
    max_expansion: float = DEFAULT_MAX_EXPANSION  # decompressed bytes per byte on disk


def _first_line(path: Path) -> tuple[str, int] | None:
    """The first non-blank line (decoded, BOM and line end stripped) and how many physical
    lines precede it; None when the file holds only blank lines."""
    skipped = 0
    with wrap_errors(path, "cannot read: {exc}"), open_maybe_gzip(path) as f:
        while True:
            raw = f.readline(BLOCK_BYTES + 1)
            if not raw:
                return None
            if len(raw) > BLOCK_BYTES:
                raise FormatError(
                    path,
                    f"line {skipped + 1} is longer than {BLOCK_BYTES} "
                    "bytes; not an MNIST-style CSV file",
                )
            if skipped == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            body = raw.rstrip(b"\r\n")
            if body:
                break
            skipped += 1
    try:
        return body.decode("utf-8"), skipped
    except UnicodeDecodeError as exc:
        raise FormatError(
            path,
            f"line {skipped + 1} is not valid UTF-8 text "
            f"(byte 0x{body[exc.start]:02x} at column {exc.start + 1})",
            hint="save the file as UTF-8",
        ) from exc


def _square(n: int, path: Path, what: str) -> tuple[int, int]:
    side = math.isqrt(n)
    if n == 0 or side * side != n:
        raise FormatError(
            path,
            f"{what}: {n} pixel values per row is not a square image",
            hint="pass the image shape explicitly, e.g. shape=(28, 28)",
        )
    return side, side


def _pixel_index(
    path: Path, names: list[str], cols: list[int], shape: tuple[int, int] | None
) -> tuple[np.ndarray, tuple[int, int]]:
    """Row-major pixel index of each column of ``cols`` from its name, and the shape."""
    pix = [_PIXEL_RE.fullmatch(names[i].strip()) for i in cols]
    rc = [_ROWCOL_RE.fullmatch(names[i].strip()) for i in cols]
    if cols and all(pix):
        index = np.array([int(m[1]) for m in pix if m], dtype=np.int64)
        index -= index.min()
        shape = _square(len(cols), path, "header") if shape is None else shape
        if shape[0] * shape[1] != len(cols):
            raise FormatError(
                path,
                f"header has {len(cols)} pixel columns, shape {shape} needs {shape[0] * shape[1]}",
            )
        return index, shape
    if cols and all(rc):
        r = np.array([int(m[1]) for m in rc if m], dtype=np.int64)
        c = np.array([int(m[2]) for m in rc if m], dtype=np.int64)
        found = (int(r.max() - r.min()) + 1, int(c.max() - c.min()) + 1)
        if shape is not None and shape != found:
            raise FormatError(
                path,
                f"header columns span {found[0]}x{found[1]} pixels, expected {shape[0]}x{shape[1]}",
            )
        return (r - r.min()) * found[1] + (c - c.min()), found
    odd = [names[i] for i, m, k in zip(cols, pix, rc, strict=True) if not (m or k)]
    raise FormatError(
        path,
        "header has columns that are neither the label nor pixels: "
        + ", ".join(repr(o) for o in odd[:5])
        + (f" and {len(odd) - 5} more" if len(odd) > 5 else ""),
        hint="expected label,pixel0..pixelN or label,1x1..RxC",
    )


def _header_layout(
    path: Path, names: list[str], shape: tuple[int, int] | None
) -> tuple[int | None, np.ndarray, tuple[int, int]]:
    """Label column, pixel columns in row-major order, and shape, from a header."""
    label_cols = label_columns(names)
    if len(label_cols) > 1:
        shown = ", ".join(names[i] for i in sorted(label_cols))
        raise FormatError(path, f"header has several label columns: {shown}")
    label_col = label_cols[0] if label_cols else None
    cols = [i for i in range(len(names)) if i != label_col]
    index, shape = _pixel_index(path, names, cols, shape)
    size = shape[0] * shape[1]
    if len(index) != size or len(np.unique(index)) != size or index.max() >= size:
        raise FormatError(
            path,
            f"header pixel columns do not cover a {shape[0]}x{shape[1]} "
            "image exactly once (duplicates or gaps)",
        )
    pixel_cols = np.empty(size, dtype=np.int64)
    pixel_cols[index] = np.array(cols, dtype=np.int64)
    return label_col, pixel_cols, shape


def _plain_layout(
    path: Path, ncols: int, line: int, shape: tuple[int, int] | None
) -> tuple[int, np.ndarray, tuple[int, int]]:
    """No header: the label, then the pixels."""
    if ncols < 2:
        raise FormatError(
            path, f"line {line} has {ncols} column; expected a label then the pixel values"
        )
    npix = ncols - 1
    if shape is None:
        shape = _square(npix, path, "no header, label first")
    elif shape[0] * shape[1] != npix:
        raise FormatError(
            path, f"rows have {npix} pixel values, shape {shape} needs {shape[0] * shape[1]}"
        )
    return 0, np.arange(1, ncols, dtype=np.int64), shape


def _is_header(fields: list[str]) -> bool:
    stripped = [f.strip() for f in fields]
    named = sum(bool(_NAME_RE.match(f)) for f in stripped)
    known = any(
        f.lower() in LABEL_COLUMNS or _PIXEL_RE.fullmatch(f) or _ROWCOL_RE.fullmatch(f)
        for f in stripped
    )
    return known or named * 2 >= len(fields)


def _check_trailer(path: Path, max_expansion: float) -> None:
    """Refuse a gzip file whose last member's ISIZE trailer (an estimate, mod 2**32)
    already expands past the limit. A trailer claiming more than deflate can produce is
    no trailer (a cut file): the stream then reports the truncation, and the streaming
    cap still holds."""
    isize = gzip_trailer(path)
    size = path.stat().st_size
    if isize is None or isize > size * MAX_DEFLATE_RATIO:
        return
    check_expansion(path, "its gzip trailer says it", isize, size, max_expansion)


def _fields(path: Path) -> tuple[list[str], int]:
    """The fields of the first non-blank line and how many lines precede it."""
    first = _first_line(path)
    if first is None:
        raise FormatError(path, "file holds only blank lines, no CSV rows")
    line, skipped = first
    try:
        fields = next(_stdcsv.reader([line]))
    except (_stdcsv.Error, StopIteration) as exc:
        raise FormatError(path, f"line {skipped + 1} is not CSV: {exc}") from exc
    if len(fields) - 1 > _MAX_PIXELS:
        raise FormatError(
            path,
            f"line {skipped + 1} has {len(fields)} columns, more than an image "
            f"of at most {_MAX_PIXELS} pixels needs",
        )
    return fields, skipped


def read_layout(
    path: Path,
    shape: tuple[int, int] | None,
    root: Path | None = None,
    max_expansion: float = DEFAULT_MAX_EXPANSION,
) -> CsvLayout:
    """How ``path`` maps to records; ``root`` (resolved; default the file's own folder) is
    the folder it must be a regular file inside, checked before it is opened. A gzip file
    whose trailer declares more than ``max_expansion`` times its size is refused here."""
    path = Path(path)
    root = resolved_root(path) if root is None else root
    require_regular_file(path, root)
    if path.stat().st_size == 0:
        raise TruncatedError(path, "file is empty")
    compressed = is_gzip(path)
    if compressed:
        _check_trailer(path, max_expansion)
    fields, skipped = _fields(path)
    if _is_header(fields):
        label_col, pixel_cols, shape = _header_layout(path, fields, shape)
        header_lines = skipped + 1
    else:
        label_col, pixel_cols, shape = _plain_layout(path, len(fields), skipped + 1, shape)
        header_lines = skipped
    return CsvLayout(
        path=path,
        root=root,
        compressed=compressed,
        header_lines=header_lines,
        ncols=len(fields),
        label_col=label_col,
        pixel_cols=pixel_cols,
        shape=shape,
        max_expansion=max_expansion,
    )
