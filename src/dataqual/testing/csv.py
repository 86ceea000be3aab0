"""CSV writers: one image per row, the label first, then the H*W pixel values row-major.

The layouts are the ones :class:`~dataqual.ingest.csv.CsvSource` reads: no header (the
pjreddie ``mnist_train.csv`` form) or a header ``label,pixel0..`` (Kaggle) or
``label,1x1..HxW``; ``train.csv``/``test.csv`` per split in a folder; plain or gzip.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from dataqual.testing.arrays import Data
from dataqual.testing.compress import write_file

__all__ = ["CsvHeader", "csv_bytes", "csv_table", "write_csv", "write_csv_dataset"]

#: No header, ``pixel<i>`` names, or ``<row>x<column>`` names (1-based).
CsvHeader = Literal["pixel", "rowcol"] | None


def _pixel_names(h: int, w: int, header: CsvHeader) -> list[str]:
    if header == "rowcol":
        return [f"{r}x{c}" for r in range(1, h + 1) for c in range(1, w + 1)]
    return [f"pixel{i}" for i in range(h * w)]


def csv_table(x: np.ndarray, y: np.ndarray | None, header: CsvHeader = None) -> pa.Table:
    """The table a CSV is written from: ``label`` (int64, omitted when ``y`` is None) then one
    column per pixel. ``x`` is ``(n, H, W)`` of numbers, or of strings written verbatim (for
    cells a uint8 image cannot hold: ``"300"``, ``"-1"``, ``"2.5"``, ``""``, ``"NaN"``)."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be (n, H, W), got shape {x.shape}")
    n, h, w = x.shape
    flat = x.reshape(n, h * w)
    if flat.dtype.kind in "OU":
        flat = flat.astype(object)
        cols = [pa.array(flat[:, i], type=pa.string()) for i in range(h * w)]
    else:
        cols = [pa.array(flat[:, i]) for i in range(h * w)]
    names = _pixel_names(h, w, header)
    if y is not None:
        cols, names = [pa.array(np.asarray(y).astype(np.int64)), *cols], ["label", *names]
    return pa.Table.from_arrays(cols, names=names)


def csv_bytes(x: np.ndarray, y: np.ndarray | None, header: CsvHeader = None) -> bytes:
    """The CSV text of :func:`csv_table`, unquoted, one line per image."""
    sink = io.BytesIO()
    options = pacsv.WriteOptions(include_header=header is not None, quoting_style="none")
    pacsv.write_csv(csv_table(x, y, header), sink, write_options=options)
    return sink.getvalue()


def write_csv(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray | None,
    header: CsvHeader = None,
    gz: bool = False,
    *,
    level: int = 1,
) -> Path:
    """One CSV file at exactly ``path`` (see :func:`csv_table`), gzip-compressed when ``gz``."""
    return write_file(path, csv_bytes(x, y, header), gz=gz, level=level)


def write_csv_dataset(
    folder: str | Path, data: Data, header: CsvHeader = None, gz: bool = False
) -> Path:
    """``<split>.csv`` (``.csv.gz`` when ``gz``) per split of ``data`` in ``folder``."""
    folder = Path(folder)
    for split, (x, y) in data.items():
        write_csv(folder / f"{split}.csv{'.gz' if gz else ''}", x, y, header, gz)
    return folder
