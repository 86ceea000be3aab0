"""Ingest: turn MNIST-style data in any supported form into an ImageSource.

One streaming reader per format (IDX, Keras npz, CSV, image folders, Parquet), a registry
of well-known datasets with pinned checksums, and a downloader with a mirror setting.
"""

from dataqual.ingest.csv import CsvSource
from dataqual.ingest.idx import IdxSource, find_idx_pairs, read_idx_header
from dataqual.ingest.images import ImageFolderSource
from dataqual.ingest.npz import NpzSource
from dataqual.ingest.parquet import ParquetSource
from dataqual.ingest.sources import FORMATS, detect_format, open_source
from dataqual.ingest.split import SplitSpec, StratifiedSplitSource

__all__ = [
    "FORMATS",
    "CsvSource",
    "IdxSource",
    "ImageFolderSource",
    "NpzSource",
    "ParquetSource",
    "SplitSpec",
    "StratifiedSplitSource",
    "detect_format",
    "find_idx_pairs",
    "open_source",
    "read_idx_header",
]
