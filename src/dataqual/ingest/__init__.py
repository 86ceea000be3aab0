"""Ingest: turn MNIST-style data in any supported form into an ImageSource.

One streaming reader per format (IDX, Keras npz, CSV, image folders, Parquet), each a
:class:`~dataqual.ingest.reader.Reader` registered with
:func:`~dataqual.ingest.formats.register_reader`; a registry of well-known datasets with
pinned checksums, and a downloader with a mirror setting. Importing the package registers
the built-in readers.
"""

from dataqual.ingest.csv import CsvSource
from dataqual.ingest.formats import register_reader
from dataqual.ingest.idx import IdxSource, find_idx_pairs, read_idx_header
from dataqual.ingest.images import ImageFolderSource
from dataqual.ingest.npz import NpzSource
from dataqual.ingest.parquet import ParquetSource
from dataqual.ingest.reader import Reader, Records, SourceOrigin
from dataqual.ingest.sources import FORMATS, detect_format, open_source
from dataqual.ingest.split import SplitSpec, StratifiedSplitSource

__all__ = [
    "FORMATS",
    "CsvSource",
    "IdxSource",
    "ImageFolderSource",
    "NpzSource",
    "ParquetSource",
    "Reader",
    "Records",
    "SourceOrigin",
    "SplitSpec",
    "StratifiedSplitSource",
    "detect_format",
    "find_idx_pairs",
    "open_source",
    "read_idx_header",
    "register_reader",
]
