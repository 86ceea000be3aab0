"""Streaming reader for MNIST-style CSV files: one image per row, a label and H*W pixels.

Two layouts are read, plain or gzip-compressed:

* no header: ``label,p0,p1,...`` (the pjreddie ``mnist_train.csv`` form);
* a header naming the columns: ``label,pixel0..pixel783`` (Kaggle) or ``label,1x1..28x28``
  (row x column, 1-based). Columns may come in any order; a header without a label
  column (Kaggle's ``test.csv``) gives rows whose label is missing.

The file is parsed by pyarrow's streaming CSV reader in blocks and converted with
vectorised Arrow/NumPy code. Cell values that a uint8 image cannot hold are findings,
not errors: empty, NaN, infinite or non-numeric cells become 0 and are counted in
``defects["missing_pixels"]``; negative, > 255 or fractional values are clipped/rounded
and counted in ``defects["pixels_out_of_range"]``; ``raw_min``/``raw_max`` hold each
row's source values (NaN for a row with no numeric pixel). A missing, non-numeric,
fractional or negative label becomes :data:`~dataqual.imageset.MISSING_LABEL`.

A row with the wrong number of columns, invalid UTF-8, a broken gzip stream or an
unreadable header is a :class:`~dataqual.errors.FormatError` naming the file and line.
Blank lines are not records and are skipped. Ids are ``<split>/<row position>``.

A gzip file may hold several members one after the other (``cat a.gz b.gz``). One that
expands more than ``max_expansion`` times its size (past the 64 MiB floor) is a
decompression bomb: refused at open when its ISIZE trailer says so, else while streaming,
where decompression stops one byte past the limit. Only
regular files inside the source folder are read (:mod:`dataqual.ingest.paths`): a
``*.csv``/``*.csv.gz`` entry that is a device, FIFO, broken link or a link leading out of
the folder is a :class:`~dataqual.errors.SourceError` naming it, never skipped.
"""

from __future__ import annotations

import csv as _stdcsv
import gzip
import io
import math
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MAX_EXPANSION,
    MISSING_LABEL,
    ImageBatch,
    SplitInfo,
    position_ids,
)
from dataqual.ingest.limits import check_expansion, expansion_limit
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.split import order_splits, split_from_name
from dataqual.ingest.values import clean_labels, clean_pixel_values

__all__ = ["CsvSource", "find_csv_files"]

_GZIP_MAGIC = b"\x1f\x8b"
#: Deflate cannot expand data by more than ~1032:1: a larger ISIZE trailer is not one.
_MAX_DEFLATE_RATIO = 1100
#: Bytes pyarrow parses at a time; also the longest row accepted (a 28x28 row is ~3 KB).
_BLOCK_BYTES = 4 << 20
#: Most pixel columns a row may have (a 256 x 256 image).
_MAX_PIXELS = 1 << 16
_LABEL_NAMES = ("label", "labels", "y", "class", "target", "digit")
# ASCII digits only, at most 9 of them: ``int()`` then never fails and every index fits
# int64 (a wider one is not a pixel column; the header error names it).
_PIXEL_RE = re.compile(r"(?:pixel|px|p)_?([0-9]{1,9})", re.IGNORECASE)
_ROWCOL_RE = re.compile(r"([0-9]{1,9})\s*x\s*([0-9]{1,9})", re.IGNORECASE)
_NAME_RE = re.compile(r"^[A-Za-z_][\w .-]*$")
_NUMBER_RE = r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"
_CSV_SUFFIXES = (".csv", ".csv.gz")


def _strings_to_float(arrays: list[pa.Array]) -> np.ndarray:
    """Columns of CSV cell text -> float64 (n, len(arrays)); NaN where not a number."""
    n = len(arrays[0]) if arrays else 0
    if not arrays or n == 0:
        return np.zeros((n, len(arrays)))
    flat = pa.concat_arrays(arrays)
    try:
        nums = pc.cast(flat, pa.float64())  # fast path: every cell is a plain number
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pc.utf8_trim_whitespace(flat)
        is_num = pc.match_substring_regex(text, _NUMBER_RE)
        nums = pc.cast(pc.if_else(is_num, text, pa.scalar(None, pa.string())), pa.float64())
    out = nums.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return out.reshape(len(arrays), n).T


@dataclass(frozen=True)
class _Layout:
    """How one CSV file maps to records, worked out from its first line."""

    path: Path
    root: Path  # resolved folder the file must stay inside (re-checked before each open)
    compressed: bool
    header_lines: int  # physical lines before the first data row (blank lines + header)
    ncols: int
    label_col: int | None
    pixel_cols: np.ndarray  # pixel_cols[k] = file column holding row-major pixel k
    shape: tuple[int, int]
    max_expansion: float = DEFAULT_MAX_EXPANSION  # decompressed bytes per byte on disk


class _CountingReader(io.RawIOBase):
    """A gzip file read through, counting the decompressed bytes handed out, that ends
    (as if at EOF) one byte past ``limit``: pyarrow reads ahead of the batches it gives, so
    the cap is what keeps a bomb that the ISIZE trailer (mod 2**32) under-reports from
    being decompressed and buffered. ``over`` tells the reader to raise."""

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

    def read(self, size: int = -1) -> bytes:
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


def _open_binary(path: Path) -> BinaryIO:
    require_regular_file(path)  # never open a FIFO or device, even if swapped in later
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _is_compressed(path: Path) -> bool:
    require_regular_file(path)
    with path.open("rb") as probe:
        return probe.read(2) == _GZIP_MAGIC


def _first_line(path: Path) -> tuple[str, int] | None:
    """The first non-blank line (decoded, BOM and line end stripped) and how many physical
    lines precede it; None when the file holds only blank lines."""
    skipped = 0
    try:
        with _open_binary(path) as f:
            while True:
                raw = f.readline(_BLOCK_BYTES + 1)
                if not raw:
                    return None
                if len(raw) > _BLOCK_BYTES:
                    raise FormatError(
                        path,
                        f"line {skipped + 1} is longer than {_BLOCK_BYTES} "
                        "bytes; not an MNIST-style CSV file",
                    )
                if skipped == 0 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                body = raw.rstrip(b"\r\n")
                if body:
                    break
                skipped += 1
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(path, f"cannot read: {exc}") from exc
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


def _header_layout(
    path: Path, names: list[str], shape: tuple[int, int] | None
) -> tuple[int | None, np.ndarray, tuple[int, int]]:
    lower = [n.strip().lower() for n in names]
    label_cols = [i for i, n in enumerate(lower) if n in _LABEL_NAMES]
    if len(label_cols) > 1:
        raise FormatError(
            path, f"header has several label columns: {', '.join(names[i] for i in label_cols)}"
        )
    label_col = label_cols[0] if label_cols else None
    cols = [i for i in range(len(names)) if i != label_col]
    pix = [_PIXEL_RE.fullmatch(names[i].strip()) for i in cols]
    rc = [_ROWCOL_RE.fullmatch(names[i].strip()) for i in cols]
    if cols and all(pix):
        index = np.array([int(m[1]) for m in pix if m], dtype=np.int64)
        index -= index.min()
        size = len(cols)
        if shape is None:
            shape = _square(size, path, "header")
        if shape[0] * shape[1] != size:
            raise FormatError(
                path, f"header has {size} pixel columns, shape {shape} needs {shape[0] * shape[1]}"
            )
    elif cols and all(rc):
        r = np.array([int(m[1]) for m in rc if m], dtype=np.int64)
        c = np.array([int(m[2]) for m in rc if m], dtype=np.int64)
        r -= r.min()
        c -= c.min()
        found = (int(r.max()) + 1, int(c.max()) + 1)
        if shape is not None and shape != found:
            raise FormatError(
                path,
                f"header columns span {found[0]}x{found[1]} pixels, expected {shape[0]}x{shape[1]}",
            )
        shape = found
        index = r * shape[1] + c
        size = shape[0] * shape[1]
    else:
        odd = [names[i] for i, m, k in zip(cols, pix, rc, strict=True) if not (m or k)]
        raise FormatError(
            path,
            "header has columns that are neither the label nor pixels: "
            + ", ".join(repr(o) for o in odd[:5])
            + (f" and {len(odd) - 5} more" if len(odd) > 5 else ""),
            hint="expected label,pixel0..pixelN or label,1x1..RxC",
        )
    if len(index) != size or len(np.unique(index)) != size or index.max() >= size:
        raise FormatError(
            path,
            f"header pixel columns do not cover a {shape[0]}x{shape[1]} "
            "image exactly once (duplicates or gaps)",
        )
    pixel_cols = np.empty(size, dtype=np.int64)
    pixel_cols[index] = np.array(cols, dtype=np.int64)
    return label_col, pixel_cols, shape


def _check_trailer(path: Path, max_expansion: float) -> None:
    """Refuse a gzip file whose last member's ISIZE trailer (its size mod 2**32: an
    estimate, read without decompressing) already expands past the limit. A trailer
    claiming more than deflate can produce is no trailer (a cut file): the stream then
    reports the truncation, and the streaming cap still holds."""
    size = path.stat().st_size
    if size < 18:
        return  # too short for a whole gzip member: the reader reports it
    with path.open("rb") as f:
        f.seek(-4, io.SEEK_END)
        isize = int(struct.unpack("<I", f.read(4))[0])
    if isize > size * _MAX_DEFLATE_RATIO:
        return
    check_expansion(path, "its gzip trailer says it", isize, size, max_expansion)


def _layout(
    path: Path,
    shape: tuple[int, int] | None,
    root: Path | None = None,
    max_expansion: float = DEFAULT_MAX_EXPANSION,
) -> _Layout:
    """How ``path`` maps to records; ``root`` (resolved; default the file's own folder) is
    the folder it must be a regular file inside, checked before it is opened. A gzip file
    whose trailer declares more than ``max_expansion`` times its size is refused here."""
    path = Path(path)
    root = resolved_root(path) if root is None else root
    require_regular_file(path, root)
    if path.stat().st_size == 0:
        raise TruncatedError(path, "file is empty")
    compressed = _is_compressed(path)
    if compressed:
        _check_trailer(path, max_expansion)
    first = _first_line(path)
    if first is None:
        raise FormatError(path, "file holds only blank lines, no CSV rows")
    line, skipped = first
    try:
        fields = next(_stdcsv.reader([line]))
    except (_stdcsv.Error, StopIteration) as exc:
        raise FormatError(path, f"line {skipped + 1} is not CSV: {exc}") from exc
    ncols = len(fields)
    if ncols - 1 > _MAX_PIXELS:
        raise FormatError(
            path,
            f"line {skipped + 1} has {ncols} columns, more than an image "
            f"of at most {_MAX_PIXELS} pixels needs",
        )
    stripped = [f.strip() for f in fields]
    named = sum(bool(_NAME_RE.match(f)) for f in stripped)
    known = any(
        f.lower() in _LABEL_NAMES or _PIXEL_RE.fullmatch(f) or _ROWCOL_RE.fullmatch(f)
        for f in stripped
    )
    if known or named * 2 >= ncols:
        label_col, pixel_cols, shape = _header_layout(path, fields, shape)
        header_lines = skipped + 1
    else:
        if ncols < 2:
            raise FormatError(
                path,
                f"line {skipped + 1} has {ncols} column; expected a label then the pixel values",
            )
        npix = ncols - 1
        if shape is None:
            shape = _square(npix, path, "no header, label first")
        elif shape[0] * shape[1] != npix:
            raise FormatError(
                path, f"rows have {npix} pixel values, shape {shape} needs {shape[0] * shape[1]}"
            )
        label_col, pixel_cols, header_lines = 0, np.arange(1, ncols, dtype=np.int64), skipped
    return _Layout(
        path=path,
        root=root,
        compressed=compressed,
        header_lines=header_lines,
        ncols=ncols,
        label_col=label_col,
        pixel_cols=pixel_cols,
        shape=shape,
        max_expansion=max_expansion,
    )


def _check_streamed(layout: _Layout, counter: _CountingReader | None) -> None:
    """Stop streaming a gzip file once it has decompressed past the limit."""
    if counter is not None and counter.over:
        size = layout.path.stat().st_size
        what = "its gzip stream (read so far)"
        check_expansion(layout.path, what, counter.count, size, layout.max_expansion)


def _find_line(layout: _Layout, row_number: int | None, *, bad_utf8: bool = False) -> int | None:
    """Error path only: the physical line of pyarrow's ``Row #`` (which counts the skipped
    header lines, then non-blank lines), of the first row with the wrong column count when
    pyarrow gave no number, or of the first invalid UTF-8 byte. Streams the file once."""
    seen = 0
    budget = expansion_limit(layout.path.stat().st_size, layout.max_expansion)
    try:
        with _open_binary(layout.path) as f:
            for lineno, raw in enumerate(iter(lambda: f.readline(_BLOCK_BYTES + 1), b""), 1):
                budget -= len(raw)
                if budget < 0:
                    return None  # never decompress past the limit just to name a line
                if bad_utf8:
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError:
                        return lineno
                    continue
                if lineno <= layout.header_lines:
                    seen += 1
                    continue
                body = raw.rstrip(b"\r\n")
                if not body:
                    continue
                seen += 1
                if row_number is not None:
                    if seen == row_number:
                        return lineno
                    continue
                text = body.decode("utf-8", errors="replace")
                try:
                    if len(next(_stdcsv.reader([text]))) != layout.ncols:
                        return lineno
                except (_stdcsv.Error, StopIteration):
                    return lineno
    except (OSError, EOFError, zlib.error):
        return None
    return None


_ROW_ERROR = re.compile(r"(?:Row #(\d+): )?Expected (\d+) columns, got (\d+)")


def _csv_error(layout: _Layout, exc: Exception) -> SourceError:
    """Our error for whatever pyarrow raised while reading ``layout.path``."""
    path = layout.path
    text = str(exc)
    bad_row = _ROW_ERROR.search(text)
    if bad_row:
        line = _find_line(layout, int(bad_row[1]) if bad_row[1] else None)
        where = f"line {line}" if line is not None else "a row"
        return FormatError(
            path,
            f"{where} has {bad_row[3]} columns, expected {bad_row[2]}",
            hint="every row must hold the label and all pixel values",
        )
    if "UTF8" in text or "UTF-8" in text:
        line = _find_line(layout, None, bad_utf8=True)
        where = f"line {line}" if line is not None else "the file"
        return FormatError(path, f"{where} is not valid UTF-8 text", hint="save the file as UTF-8")
    if "straddle" in text:
        return FormatError(
            path, f"a row is longer than {_BLOCK_BYTES} bytes; not an MNIST-style CSV file"
        )
    if layout.compressed and isinstance(exc, OSError | EOFError | zlib.error | pa.ArrowInvalid):
        return TruncatedError(path, f"gzip stream is corrupt or truncated ({text})")
    return FormatError(path, f"cannot parse as CSV: {text}")


def find_csv_files(folder: Path) -> dict[str, Path]:
    """Split name -> CSV file (``*.csv`` / ``*.csv.gz``) in a folder, named by
    :func:`~dataqual.ingest.split.split_from_name` (else the file's stem). An entry with
    such a name that is not a regular file inside the folder is a SourceError naming it."""
    folder = Path(folder)
    root = resolved_root(folder)
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        name = entry.name.lower()
        if name.startswith(".") or not name.endswith(_CSV_SUFFIXES):
            continue
        require_regular_file(entry, root)
        stem = entry.name[: -len(".csv.gz")] if name.endswith(".gz") else entry.stem
        split = split_from_name(stem, default=stem)
        if split in found:
            raise FormatError(
                folder,
                f"two CSV files map to split {split!r}: {found[split].name}, {entry.name}",
                hint="keep one file per split",
            )
        found[split] = entry
    return found


class CsvSource:
    """One CSV file per split, streamed in blocks and converted column-wise."""

    def __init__(
        self,
        files: dict[str, Path],
        *,
        shape: tuple[int, int] | None = None,
        description: str | None = None,
        root: Path | None = None,
        max_expansion: float = DEFAULT_MAX_EXPANSION,
    ) -> None:
        """``root``: the resolved folder every file must stay inside (default: each file's
        own folder); a file that is not a regular file inside it is a SourceError. A gzip
        file expanding more than ``max_expansion`` times its size (past the 64 MiB floor)
        is refused: at open from its trailer, and while streaming from the bytes read."""
        if not files:
            raise SourceError(
                description or "<csv>",
                "no CSV files found",
                hint="expected train.csv / test.csv (optionally .gz)",
            )
        self._layouts = {s: _layout(Path(p), shape, root, max_expansion) for s, p in files.items()}
        shapes = {lay.shape for lay in self._layouts.values()}
        if len(shapes) > 1:
            raise FormatError(
                description or "<csv>", f"splits have different image shapes: {sorted(shapes)}"
            )
        self._shape = shapes.pop()
        self._description = description or ", ".join(str(p) for p in files.values())

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        shape: tuple[int, int] | None = None,
        max_expansion: float = DEFAULT_MAX_EXPANSION,
    ) -> CsvSource:
        """A folder of ``train.csv``/``test.csv`` (two splits) or one file (one split named
        from the file: train / test, else train)."""
        path = Path(path)
        if path.is_dir():
            root = resolved_root(path)
            return cls(
                find_csv_files(path),
                shape=shape,
                description=str(path),
                root=root,
                max_expansion=max_expansion,
            )
        if not os.path.lexists(path):
            raise SourceError(path, "no such file or folder")
        return cls(
            {split_from_name(path.name): path},
            shape=shape,
            description=str(path),
            root=resolved_root(path),
            max_expansion=max_expansion,
        )

    @property
    def description(self) -> str:
        return self._description

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    def splits(self) -> list[SplitInfo]:
        return [SplitInfo(s, None, (self._layouts[s].path,)) for s in order_splits(self._layouts)]

    def files(self) -> list[Path]:
        return [lay.path for lay in self._layouts.values()]

    def _record_batches(
        self, layout: _Layout, columns: list[int] | None
    ) -> Iterator[pa.RecordBatch]:
        """pyarrow record batches of cell text; every failure becomes our error."""
        names = [f"c{i}" for i in range(layout.ncols)]
        require_regular_file(layout.path, layout.root)
        counter: _CountingReader | None = None
        try:
            if layout.compressed:
                limit = expansion_limit(layout.path.stat().st_size, layout.max_expansion)
                counter = _CountingReader(gzip.GzipFile(layout.path, "rb"), limit)
                stream = pa.PythonFile(counter, mode="r")  # closing it closes the gzip file
            else:
                stream = pa.input_stream(str(layout.path))
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=names,
                    skip_rows=layout.header_lines,
                    block_size=_BLOCK_BYTES,
                    use_threads=False,
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    include_columns=None if columns is None else [names[i] for i in columns],
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    check_utf8=True,
                ),
            )
            with stream:
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        _check_streamed(layout, counter)  # the cap ended the stream
                        return
                    _check_streamed(layout, counter)
                    yield batch
        except (pa.ArrowException, OSError, EOFError, zlib.error, ValueError) as exc:
            if isinstance(exc, SourceError):
                raise
            _check_streamed(layout, counter)  # a row cut by the cap is not the file's fault
            raise _csv_error(layout, exc) from exc

    def labels(self, split: str) -> np.ndarray:
        """All labels of a split, parsing only the label column (for stratified splits)."""
        layout = self._layouts[split]
        col = layout.label_col if layout.label_col is not None else int(layout.pixel_cols[0])
        parts = []
        for rb in self._record_batches(layout, [col]):
            if layout.label_col is None:
                parts.append(np.full(rb.num_rows, MISSING_LABEL, dtype=np.int64))
            else:
                parts.append(clean_labels(_strings_to_float([rb.column(0)])[:, 0]))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Stream a split in chunks of exactly ``rows`` records (the last one shorter)."""
        layout = self._layouts[split]
        h, w = self._shape
        keys = ("labels", "images", "missing", "oor", "rescaled", "rmin", "rmax")
        buf: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        held = 0
        start = 0

        def emit(n: int) -> ImageBatch:
            nonlocal held, start
            whole = {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in buf.items()}
            for k in keys:
                buf[k] = [whole[k][n:]] if held > n else []
            held -= n
            batch = ImageBatch(
                split=split,
                ids=position_ids(split, start, start + n),
                labels=whole["labels"][:n],
                images=whole["images"][:n].reshape(n, h, w),
                positions=np.arange(start, start + n, dtype=np.int64),
                defects={
                    "missing_pixels": whole["missing"][:n],
                    "pixels_out_of_range": whole["oor"][:n],
                    "rescaled": whole["rescaled"][:n],
                },
                raw_min=whole["rmin"][:n],
                raw_max=whole["rmax"][:n],
            )
            start += n
            return batch

        for rb in self._record_batches(layout, None):
            if rb.num_rows == 0:
                continue
            values = _strings_to_float([rb.column(int(i)) for i in layout.pixel_cols])
            pv = clean_pixel_values(values)
            if layout.label_col is None:
                labels = np.full(rb.num_rows, MISSING_LABEL, dtype=np.int64)
            else:
                labels = clean_labels(_strings_to_float([rb.column(layout.label_col)])[:, 0])
            columns = (
                labels,
                pv.pixels,
                pv.missing,
                pv.out_of_range,
                pv.rescaled,
                pv.raw_min,
                pv.raw_max,
            )
            for k, v in zip(keys, columns, strict=True):
                buf[k].append(v)
            held += rb.num_rows
            while held >= rows:
                yield emit(rows)
        if held:
            yield emit(held)
