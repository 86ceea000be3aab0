"""Ingest: turn MNIST-style data in any supported form into an :class:`~dataqual.imageset.ImageSource`."""

from dataqual.ingest.idx import IdxSource, find_idx_pairs, read_idx_header
from dataqual.ingest.sources import FORMATS, detect_format, open_source

__all__ = ["FORMATS", "IdxSource", "detect_format", "find_idx_pairs", "open_source", "read_idx_header"]
