"""Parquet columns turned into record arrays: labels, images of each kind of image column,
and the check that shard ids are unique across a source.

A null image is an all-zero ``unreadable`` row; a null or non-integer label is
:data:`~dataqual.imageset.MISSING_LABEL`; a list image of the wrong length is a
FormatError naming the file and record. Numbers that a uint8 image cannot hold are cleaned
like CSV cells; encoded images are decoded like image files.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataqual.errors import FormatError
from dataqual.imageset import MISSING_LABEL
from dataqual.ingest.decode import decode_images
from dataqual.ingest.parquet_files import read_error
from dataqual.ingest.parquet_schema import FileInfo
from dataqual.ingest.reader import wrap_errors
from dataqual.ingest.values import clean_labels, clean_pixel_values, strings_to_float

__all__ = [
    "check_unique_ids",
    "column_labels",
    "encoded_images",
    "fixed_images",
    "list_images",
]


def check_unique_ids(files: list[tuple[FileInfo, pq.ParquetFile]]) -> None:
    """Shard ids must be unique across the source (they key every later table): read the
    id column only, sort it in Arrow, and name the shard, record and id of the first
    repeat in stream order. A null id is an error too."""
    if not files:
        return
    chunks: list[pa.Array] = []
    for info, pf in files:
        assert info.id is not None
        with wrap_errors(info.path, lambda exc, p=info.path: read_error(p, exc)):
            col = pf.read(columns=[info.id], use_threads=False).column(0)
        if col.null_count:
            first = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise FormatError(
                info.path, f"id column has {col.null_count} null values", record=first
            )
        chunks.extend(col.cast(pa.large_string()).chunks)
    ids = pa.chunked_array(chunks, type=pa.large_string()).combine_chunks()
    if len(ids) < 2 or pc.count_distinct(ids).as_py() == len(ids):
        return
    order = pc.array_sort_indices(ids)  # stable: equal ids keep their stream order
    ranked = ids.take(order)
    same = pc.equal(ranked.slice(1), ranked.slice(0, len(ranked) - 1))
    repeats = np.flatnonzero(same.to_numpy(zero_copy_only=False)) + 1
    order_np = order.to_numpy()
    at = int(order_np[repeats].min())  # first row, in stream order, whose id came before
    value = ids[at].as_py()
    earlier = int(order_np[pc.index(ranked, value).as_py()])  # its first occurrence
    starts = np.cumsum([0, *(info.num_rows for info, _ in files)])
    where = int(np.searchsorted(starts, at, side="right")) - 1
    first = int(np.searchsorted(starts, earlier, side="right")) - 1
    raise FormatError(
        files[where][0].path,
        f"id {value!r} appears twice (first in {files[first][0].path.name}, record "
        f"{earlier - starts[first]})",
        record=at - int(starts[where]),
        hint="every row of a shard folder needs its own id",
    )


def column_labels(col: pa.Array, info: FileInfo) -> np.ndarray:
    """Labels as int64 from a label column of integers, floats or text (anything that is
    not a non-negative integer is :data:`MISSING_LABEL`); another type is a FormatError."""
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.dictionary_decode()
        t = col.type
    if pa.types.is_integer(t):
        vals = pc.fill_null(col.cast(pa.int64(), safe=False), MISSING_LABEL)
        out = vals.to_numpy(zero_copy_only=False).astype(np.int64)
        out[out < 0] = MISSING_LABEL
        return out
    if pa.types.is_floating(t):
        return clean_labels(col.cast(pa.float64()).to_numpy(zero_copy_only=False))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return clean_labels(strings_to_float([col.cast(pa.string())])[:, 0])
    raise FormatError(info.path, f"label column {info.label!r} has type {t}; expected integers")


def fixed_images(col: pa.Array, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(col)
    valid = (
        np.ones(n, dtype=bool)
        if not col.null_count
        else col.is_valid().to_numpy(zero_copy_only=False)
    )
    buf = col.buffers()[1]
    if buf is None:
        return np.zeros((n, h, w), np.uint8), (~valid).astype(np.int32)
    data = np.frombuffer(buf, dtype=np.uint8, count=(col.offset + n) * h * w)
    images = data[col.offset * h * w :].reshape(n, h, w)
    if not valid.all():
        images = images.copy()
        images[~valid] = 0
    return images, (~valid).astype(np.int32)


def list_images(
    col: pa.Array, info: FileInfo, h: int, w: int, first: int
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None, np.ndarray | None]:
    """Images from a list (or list of lists) column, checked for length, cleaned."""
    n = len(col)
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.list_value_length(col), -1).to_numpy(zero_copy_only=False)
    want, values = (h * w, pc.list_flatten(col)) if info.image_kind == "list" else (h, None)
    bad = np.flatnonzero(valid & (lengths != want))
    if len(bad):
        raise FormatError(
            info.path,
            f"image has {lengths[bad[0]]} "
            f"{'values' if values is not None else 'rows'}, a "
            f"{h}x{w} image needs {want}",
            record=first + int(bad[0]),
        )
    if values is None:
        inner = pc.list_flatten(col)
        inner_len = pc.fill_null(pc.list_value_length(inner), -1).to_numpy(zero_copy_only=False)
        bad_rows = np.flatnonzero(inner_len != w)
        if len(bad_rows):
            row = np.flatnonzero(valid)[bad_rows[0] // h]
            raise FormatError(
                info.path,
                f"image row {bad_rows[0] % h} has {inner_len[bad_rows[0]]} values, expected {w}",
                record=first + int(row),
            )
        values = pc.list_flatten(inner)
    nvalid = int(valid.sum())
    images = np.zeros((n, h * w), dtype=np.uint8)
    missing = np.zeros(n, np.int32)
    oor = np.zeros(n, np.int32)
    rescaled = np.zeros(n, np.int32)
    raw_min = raw_max = None
    if pa.types.is_uint8(values.type) and not values.null_count:
        images[valid] = values.to_numpy(zero_copy_only=False).reshape(nvalid, h * w)
    else:
        floats = values.cast(pa.float64()).to_numpy(zero_copy_only=False).reshape(nvalid, h * w)
        pv = clean_pixel_values(floats)
        images[valid], missing[valid], oor[valid] = pv.pixels, pv.missing, pv.out_of_range
        rescaled[valid] = pv.rescaled
        raw_min = np.full(n, np.nan)
        raw_max = np.full(n, np.nan)
        raw_min[valid], raw_max[valid] = pv.raw_min, pv.raw_max
    defects = {
        "missing_pixels": missing,
        "pixels_out_of_range": oor,
        "rescaled": rescaled,
        "unreadable": (~valid).astype(np.int32),
    }
    return images.reshape(n, h, w), defects, raw_min, raw_max


def encoded_images(
    col: pa.Array, info: FileInfo, h: int, w: int, max_pixels: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Encoded image cells decoded like image files (shared decoder: the same counters)."""
    if info.image_kind == "struct":
        col = pc.struct_field(col, "bytes")
    return decode_images(col.to_pylist(), (h, w), max_pixels=max_pixels)
