"""The Parquet schema of dataqual shards: a contract that users' scripts rely on.

Columns: ``id`` (string, unique, stable: ``<split>/<position in the source>``), ``split``
(string), ``label`` (int64), ``image`` (fixed_size_binary(H*W), row-major uint8). The
schema metadata holds ``dataqual.height``, ``dataqual.width`` and ``dataqual.version``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dataqual.errors import FormatError
from dataqual.imageset import ImageBatch

__all__ = ["SCHEMA_VERSION", "batch_to_table", "shard_schema", "table_images"]

SCHEMA_VERSION = "1"


def shard_schema(height: int, width: int) -> pa.Schema:
    """Schema of a shard of ``height`` x ``width`` images."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("label", pa.int64(), nullable=False),
            pa.field("image", pa.binary(height * width), nullable=False),
        ],
        metadata={
            "dataqual.height": str(height),
            "dataqual.width": str(width),
            "dataqual.version": SCHEMA_VERSION,
        },
    )


def batch_to_table(batch: ImageBatch) -> pa.Table:
    """An Arrow table of a batch in the shard schema; the image column shares the batch's bytes."""
    h, w = batch.shape
    n = len(batch)
    images = np.ascontiguousarray(batch.images).reshape(-1)
    image_col = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(h * w), n, [None, pa.py_buffer(images)]
    )
    return pa.Table.from_arrays(
        [
            pa.array(batch.ids, type=pa.string()),
            pa.repeat(pa.scalar(batch.split, pa.string()), n),
            pa.array(batch.labels, type=pa.int64()),
            image_col,
        ],
        schema=shard_schema(h, w),
    )


def table_images(table: pa.Table | pa.RecordBatch, height: int, width: int) -> np.ndarray:
    """The image column as a uint8 (n, height, width) array, zero-copy when possible."""
    col = table.column("image")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_fixed_size_binary(col.type) or col.type.byte_width != height * width:
        raise FormatError(
            "<table>", f"image column is {col.type}, expected fixed_size_binary({height * width})"
        )
    if col.null_count:
        raise FormatError("<table>", f"image column has {col.null_count} null values")
    buf = col.buffers()[1]
    arr = np.frombuffer(buf, dtype=np.uint8, count=(col.offset + len(col)) * height * width)
    return arr[col.offset * height * width :].reshape(len(col), height, width)
