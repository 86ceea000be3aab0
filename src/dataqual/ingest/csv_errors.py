"""What went wrong in a CSV file, and where: pyarrow's parse errors turned into ours.

Error path only. A row with the wrong number of columns is named by its physical line and
its record (the row's position among the data rows, as in its id ``<split>/<position>``);
invalid UTF-8 by its line. Finding them streams the file once more, never decompressing
past the expansion limit.
"""

from __future__ import annotations

import csv as _stdcsv
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.ingest.csv_layout import BLOCK_BYTES, CsvLayout
from dataqual.ingest.gzipped import open_maybe_gzip
from dataqual.ingest.limits import expansion_limit

__all__ = ["csv_error"]

_ROW_ERROR = re.compile(r"(?:Row #(\d+): )?Expected (\d+) columns, got (\d+)")


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based physical line
    record: int | None  # 0-based position among the data rows; None for a header line
    body: bytes  # without the line end
    seen: int  # pyarrow's row count up to here: skipped header lines, then non-blank lines


def _lines(layout: CsvLayout) -> Iterator[_Line]:
    """The file's lines, numbered, until the expansion budget or the file ends."""
    budget = expansion_limit(layout.path.stat().st_size, layout.max_expansion)
    seen = records = 0
    try:
        with open_maybe_gzip(layout.path) as f:
            for number, raw in enumerate(iter(lambda: f.readline(BLOCK_BYTES + 1), b""), 1):
                budget -= len(raw)
                if budget < 0:
                    return  # never decompress past the limit just to name a line
                body = raw.rstrip(b"\r\n")
                header = number <= layout.header_lines
                if header or body:
                    seen += 1
                record = None
                if not header and body:
                    record, records = records, records + 1
                yield _Line(number, record, body, seen)
    except (OSError, EOFError, zlib.error):
        return


def _wrong_width(layout: CsvLayout, line: _Line) -> bool:
    text = line.body.decode("utf-8", errors="replace")
    try:
        return len(next(_stdcsv.reader([text]))) != layout.ncols
    except (_stdcsv.Error, StopIteration):
        return True


def _find_row(layout: CsvLayout, row_number: int | None) -> _Line | None:
    """The line of pyarrow's ``Row #`` (which counts the skipped header lines, then
    non-blank lines), else of the first data row with the wrong column count."""
    for line in _lines(layout):
        if line.record is None:
            continue
        if row_number is not None:
            if line.seen == row_number:
                return line
        elif _wrong_width(layout, line):
            return line
    return None


def _find_bad_utf8(layout: CsvLayout) -> _Line | None:
    for line in _lines(layout):
        try:
            line.body.decode("utf-8")
        except UnicodeDecodeError:
            return line
    return None


def csv_error(layout: CsvLayout, exc: BaseException) -> SourceError:
    """Our error for whatever pyarrow raised while reading ``layout.path``."""
    path = layout.path
    text = str(exc)
    bad_row = _ROW_ERROR.search(text)
    if bad_row:
        line = _find_row(layout, int(bad_row[1]) if bad_row[1] else None)
        where = f"line {line.number}" if line is not None else "a row"
        return FormatError(
            path,
            f"{where} has {bad_row[3]} columns, expected {bad_row[2]}",
            record=None if line is None else line.record,
            hint="every row must hold the label and all pixel values",
        )
    if "UTF8" in text or "UTF-8" in text:
        line = _find_bad_utf8(layout)
        where = f"line {line.number}" if line is not None else "the file"
        record = None if line is None else line.record
        return FormatError(
            path, f"{where} is not valid UTF-8 text", record=record, hint="save the file as UTF-8"
        )
    if "straddle" in text:
        return FormatError(
            path, f"a row is longer than {BLOCK_BYTES} bytes; not an MNIST-style CSV file"
        )
    if layout.compressed and isinstance(exc, OSError | EOFError | zlib.error | pa.ArrowInvalid):
        return TruncatedError(path, f"gzip stream is corrupt or truncated ({text})")
    return FormatError(path, f"cannot parse as CSV: {text}")
