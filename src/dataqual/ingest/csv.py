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
unreadable header is a :class:`~dataqual.errors.FormatError` naming the file, the line and
the record (:mod:`.csv_errors`); the header is read by :mod:`.csv_layout`.
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

import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from dataqual.errors import FormatError, SourceError
from dataqual.imageset import DEFAULT_MAX_EXPANSION, MISSING_LABEL, SplitInfo
from dataqual.ingest.csv_errors import csv_error
from dataqual.ingest.csv_layout import BLOCK_BYTES, CsvLayout, read_layout
from dataqual.ingest.formats import Probe, register_reader
from dataqual.ingest.gzipped import CappedReader
from dataqual.ingest.limits import check_expansion, expansion_limit
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.reader import Reader, Records, wrap_errors
from dataqual.ingest.split import order_splits, split_from_name
from dataqual.ingest.values import clean_labels, clean_pixel_values, strings_to_float

__all__ = ["CsvSource", "find_csv_files", "looks_like_csv"]

_CSV_SUFFIXES = (".csv", ".csv.gz")


def looks_like_csv(data: bytes) -> bool:
    """Text (no NULs, few control bytes) with commas. Invalid UTF-8 still counts: the CSV
    reader then names the offending line, which helps more than 'unknown format'."""
    if not data or b"\x00" in data or b"," not in data:
        return False
    control = sum(data.count(bytes([c])) for c in range(32) if c not in (9, 10, 13))
    return control * 100 <= len(data)


def _check_streamed(layout: CsvLayout, counter: CappedReader | None) -> None:
    """Stop streaming a gzip file once it has decompressed past the limit."""
    if counter is not None and counter.over:
        size = layout.path.stat().st_size
        what = "its gzip stream (read so far)"
        check_expansion(layout.path, what, counter.count, size, layout.max_expansion)


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


def _detect(probe: Probe) -> bool:
    return bool(find_csv_files(probe.path)) if probe.is_dir else looks_like_csv(probe.text)


def _csv_reader(layout: CsvLayout, stream: Any, columns: list[int] | None) -> Any:
    """pyarrow's streaming reader of cell text (every column a string)."""
    names = [f"c{i}" for i in range(layout.ncols)]
    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(
            column_names=names,
            skip_rows=layout.header_lines,
            block_size=BLOCK_BYTES,
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


@register_reader("csv", detect=_detect, priority=40)
class CsvSource(Reader):
    """One CSV file per split, streamed in blocks and converted column-wise."""

    options = frozenset({"shape"})

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
        self._layouts = {
            s: read_layout(Path(p), shape, root, max_expansion) for s, p in files.items()
        }
        shapes = {lay.shape for lay in self._layouts.values()}
        if len(shapes) > 1:
            raise FormatError(
                description or "<csv>", f"splits have different image shapes: {sorted(shapes)}"
            )
        self._shape = shapes.pop()
        self._description = description or ", ".join(str(p) for p in files.values())

    @classmethod
    def open(  # type: ignore[override]
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
            files = find_csv_files(path)
        elif not os.path.lexists(path):
            raise SourceError(path, "no such file or folder")
        else:
            files = {split_from_name(path.name): path}
        root = resolved_root(path)
        return cls(
            files, shape=shape, description=str(path), root=root, max_expansion=max_expansion
        )

    def splits(self) -> list[SplitInfo]:
        return [SplitInfo(s, None, (self._layouts[s].path,)) for s in order_splits(self._layouts)]

    def files(self) -> list[Path]:
        return [lay.path for lay in self._layouts.values()]

    def _record_batches(
        self, layout: CsvLayout, columns: list[int] | None
    ) -> Iterator[pa.RecordBatch]:
        """pyarrow record batches of cell text; every failure becomes our error."""
        require_regular_file(layout.path, layout.root)
        counter: CappedReader | None = None

        def failed(exc: BaseException) -> SourceError:
            _check_streamed(layout, counter)  # a row cut by the cap is not the file's fault
            return csv_error(layout, exc)

        with wrap_errors(layout.path, failed):
            if layout.compressed:
                limit = expansion_limit(layout.path.stat().st_size, layout.max_expansion)
                counter = CappedReader(gzip.GzipFile(layout.path, "rb"), limit)
                stream = pa.PythonFile(counter, mode="r")  # closing it closes the gzip file
            else:
                stream = pa.input_stream(str(layout.path))
            reader = _csv_reader(layout, stream, columns)
            with stream:
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        _check_streamed(layout, counter)  # the cap ended the stream
                        return
                    _check_streamed(layout, counter)
                    yield batch

    def _labels(self, layout: CsvLayout, rb: pa.RecordBatch, column: int) -> np.ndarray:
        if layout.label_col is None:
            return np.full(rb.num_rows, MISSING_LABEL, dtype=np.int64)
        return clean_labels(strings_to_float([rb.column(column)])[:, 0])

    def labels(self, split: str) -> np.ndarray:
        """All labels of a split, parsing only the label column (for stratified splits)."""
        layout = self._layouts[split]
        col = layout.label_col if layout.label_col is not None else int(layout.pixel_cols[0])
        parts = [self._labels(layout, rb, 0) for rb in self._record_batches(layout, [col])]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def records(self, split: str, rows: int) -> Iterator[Records]:
        """The split as pyarrow parses it, one block at a time, cells cleaned to uint8."""
        layout = self._layouts[split]
        h, w = self._shape
        for rb in self._record_batches(layout, None):
            if rb.num_rows == 0:
                continue
            values = strings_to_float([rb.column(int(i)) for i in layout.pixel_cols])
            pv = clean_pixel_values(values)
            yield Records(
                labels=self._labels(layout, rb, layout.label_col or 0),
                images=pv.pixels.reshape(rb.num_rows, h, w),
                defects=pv.defects(),
                raw_min=pv.raw_min,
                raw_max=pv.raw_max,
            )
