"""What one Parquet file holds: which columns are the label, image, id and split, what
kind of image column it is, and the image shape its metadata, type or first rows fix.

Shards (schema metadata ``dataqual.height``/``dataqual.width`` and columns ``id``,
``split``, ``label``, ``image``) are recognised as such. Generic tables have a label column
(:data:`~dataqual.ingest.values.LABEL_COLUMNS`) and an image column (:data:`IMAGE_COLUMNS`)
found by name, case-insensitive, or named with ``label_column``/``image_column``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataqual.errors import FormatError
from dataqual.ingest.decode import image_size
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.parquet_files import read_error
from dataqual.ingest.reader import wrap_errors
from dataqual.ingest.values import LABEL_COLUMNS, label_columns

__all__ = [
    "IMAGE_COLUMNS",
    "FileInfo",
    "Part",
    "check_file_expansion",
    "check_size",
    "inspect_file",
    "shape_from_data",
]

#: Names an image column goes by (case-insensitive), most telling first.
IMAGE_COLUMNS = ("image", "images", "img", "pixels", "x")
#: A ``dataqual.height``/``width`` value: ASCII digits, at most 9 (``int()`` cannot fail).
_META_INT = re.compile(rb"[0-9]{1,9}")
_SHARD_COLUMNS = {"id", "split", "label", "image"}


@dataclass(frozen=True)
class FileInfo:
    """What one Parquet file holds and how its columns map to records."""

    path: Path
    shard: bool
    label: str
    image: str
    id: str | None
    split: str | None
    image_kind: str  # fixed | list | nested | encoded | struct
    num_rows: int
    shape: tuple[int, int] | None  # None until worked out from the data
    fixed_values: int | None  # values per image the column type fixes (fixed binary/list)


@dataclass(frozen=True)
class Part:
    """The rows of one file that belong to one split."""

    info: FileInfo
    keep: str | None  # keep only rows whose split column equals this
    expect: str | None  # every row's split column must equal this


def _pick(
    path: Path, names: list[str], wanted: str | None, candidates: tuple[str, ...], what: str
) -> str:
    if wanted is not None:
        if wanted not in names:
            raise FormatError(path, f"no {what} column {wanted!r}; columns are {', '.join(names)}")
        return wanted
    if candidates is LABEL_COLUMNS:
        found = label_columns(names)
        if found:
            return names[found[0]]
    else:
        lower = {n.lower(): n for n in names}
        for c in candidates:
            if c in lower:
                return lower[c]
    raise FormatError(
        path,
        f"no {what} column; columns are {', '.join(names)}",
        hint=f"name it with {what}_column=... (looked for {', '.join(candidates)})",
    )


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _is_list(t: pa.DataType) -> bool:
    return (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def _square_of(n: int) -> tuple[int, int] | None:
    side = math.isqrt(n)
    return (side, side) if side * side == n else None


def _list_kind(t: pa.DataType) -> tuple[str, tuple[int, int] | None] | None:
    """A list of numbers, or a list of lists of numbers; None for anything else."""
    if not _is_list(t):
        return None
    inner = t.value_type
    if _is_numeric(inner):
        return "list", _square_of(t.list_size) if pa.types.is_fixed_size_list(t) else None
    nested = pa.types.is_list(inner) or pa.types.is_fixed_size_list(inner)
    if (nested or pa.types.is_large_list(inner)) and _is_numeric(inner.value_type):
        both = pa.types.is_fixed_size_list(t) and pa.types.is_fixed_size_list(inner)
        return "nested", (t.list_size, inner.list_size) if both else None
    return None


def _image_kind(path: Path, name: str, t: pa.DataType) -> tuple[str, tuple[int, int] | None]:
    """Kind of image column and the shape its type fixes, if any."""
    if pa.types.is_fixed_size_binary(t):
        return "fixed", _square_of(t.byte_width)
    if _is_binary(t):
        return "encoded", None
    if pa.types.is_struct(t) and t.get_field_index("bytes") >= 0:
        inner = t.field(t.get_field_index("bytes")).type
        if not _is_binary(inner):  # text there would be taken for a path to open: never followed
            raise FormatError(
                path,
                f"image column {name!r} is a struct whose 'bytes' field has type {inner}",
                hint="expected encoded image bytes (binary)",
            )
        return "struct", None
    if pa.types.is_struct(t):
        raise FormatError(
            path,
            f"image column {name!r} is a struct without a 'bytes' field ({t})",
            hint="images must be inside the table; paths to other files are not followed",
        )
    kind = _list_kind(t)
    if kind is not None:
        return kind
    raise FormatError(
        path,
        f"image column {name!r} has type {t}",
        hint="expected fixed_size_binary(H*W), encoded image bytes, a list of "
        "H*W numbers or a list of H lists of W numbers",
    )


def _columns(
    path: Path,
    schema: pa.Schema,
    label_column: str | None,
    image_column: str | None,
    split_column: str | None,
) -> tuple[bool, str, str, str | None, str | None]:
    """(shard, label, image, id, split) column names of a file."""
    names = schema.names
    if b"dataqual.height" in (schema.metadata or {}) and set(names) >= _SHARD_COLUMNS:
        return True, "label", "image", "id", "split"
    label = _pick(path, names, label_column, LABEL_COLUMNS, "label")
    image = _pick(path, names, image_column, IMAGE_COLUMNS, "image")
    if split_column is not None and split_column not in names:
        raise FormatError(path, f"no split column {split_column!r}; columns are {', '.join(names)}")
    if label == image:
        raise FormatError(path, f"column {label!r} cannot be both the label and the image")
    return False, label, image, None, split_column or ("split" if "split" in names else None)


def _declared_shape(
    path: Path, meta: dict[bytes, bytes], shape: tuple[int, int] | None
) -> tuple[int, int] | None:
    """``shape=``, else the ``dataqual.height``/``width`` metadata (numbers only: the size
    is checked by ``open_source``)."""
    if shape is not None or b"dataqual.height" not in meta:
        return shape
    raw = (meta.get(b"dataqual.height", b""), meta.get(b"dataqual.width", b""))
    if not all(_META_INT.fullmatch(v) for v in raw):
        raise FormatError(
            path, f"bad dataqual.height/width metadata {raw[0][:20]!r}/{raw[1][:20]!r}"
        )
    return int(raw[0]), int(raw[1])


def inspect_file(
    path: Path,
    pf: pq.ParquetFile,
    *,
    label_column: str | None,
    image_column: str | None,
    split_column: str | None,
    shape: tuple[int, int] | None,
) -> FileInfo:
    """What ``path`` (opened as ``pf``) holds, from its schema and metadata only."""
    schema = pf.schema_arrow
    shard, label, image, id_col, split_col = _columns(
        path, schema, label_column, image_column, split_column
    )
    t = schema.field(image).type
    kind, typed = _image_kind(path, image, t)
    fixed = pa.types.is_fixed_size_binary(t) or pa.types.is_fixed_size_list(t)
    fixed_values = None
    if kind in ("fixed", "list") and fixed:
        fixed_values = t.byte_width if kind == "fixed" else t.list_size
    found = _declared_shape(path, schema.metadata or {}, shape) or typed
    if found is not None and (found[0] <= 0 or found[1] <= 0):
        raise FormatError(path, f"image shape {found} is not positive")
    info = FileInfo(
        path=path,
        shard=shard,
        label=label,
        image=image,
        id=id_col,
        split=split_col,
        image_kind=kind,
        num_rows=pf.metadata.num_rows,
        shape=found,
        fixed_values=fixed_values,
    )
    if found is not None:
        check_size(info, found)
    return info


def check_size(info: FileInfo, shape: tuple[int, int]) -> None:
    """A column type that fixes the values per image must fit the shape."""
    size = shape[0] * shape[1]
    if info.fixed_values is not None and info.fixed_values != size:
        raise FormatError(
            info.path,
            f"image column {info.image!r} holds {info.fixed_values} "
            f"values per image, a {shape[0]}x{shape[1]} image needs "
            f"{size}",
        )


def check_file_expansion(info: FileInfo, shape: tuple[int, int], max_expansion: float) -> None:
    """Refuse a file whose rows (from its metadata) hold more pixel bytes than
    ``max_expansion`` times its size on disk (past the 64 MiB floor)."""
    h, w = shape
    what = f"its {info.num_rows:,} rows of {h}x{w} images"
    size = info.path.stat().st_size
    check_expansion(info.path, what, info.num_rows * h * w, size, max_expansion)


def _shape_of(info: FileInfo, value: Any) -> tuple[int, int] | None:
    """The shape one non-null image cell says (None: look further)."""
    if info.image_kind in ("encoded", "struct"):
        # bytes only: image_size would open a str as a path
        return image_size(value) if isinstance(value, bytes) else None
    if info.image_kind == "nested":
        ok = len(value) and value[0] is not None and len(value[0])
        return (len(value), len(value[0])) if ok else None
    found = _square_of(len(value))
    if not value or found is None:
        raise FormatError(
            info.path,
            f"first image has {len(value)} values, not a square image",
            hint="pass shape=(H, W)",
        )
    return found


def shape_from_data(info: FileInfo, pf: pq.ParquetFile) -> tuple[int, int] | None:
    """Shape from the first non-null image of a file (lists: a square; encoded: the header),
    looking at no more than about 256 images."""
    looked = 0
    with wrap_errors(info.path, lambda exc: read_error(info.path, exc)):
        for rb in pf.iter_batches(batch_size=64, columns=[info.image], use_threads=False):
            col = rb.column(0)
            if info.image_kind == "struct":
                col = pc.struct_field(col, "bytes")
            for value in col.drop_null().to_pylist():
                found = _shape_of(info, value)
                if found is not None:
                    return found
                looked += 1
            if looked >= 256:
                break
    return None
