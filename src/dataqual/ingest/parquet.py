"""Reader for Parquet: dataqual's own shards, and generic tables of labels and images.

Shards (files whose schema carries ``dataqual.height``/``dataqual.width``, columns ``id``,
``split``, ``label``, ``image``) round-trip exactly: ids are kept verbatim and images are
the stored bytes. A shard folder holding ``manifest.json`` is read from the shard list
of that manifest (its order; a listed shard that is missing, or whose row count differs
from the manifest, is an error; other files are ignored). Without a manifest, a folder is
read as ``ROOT/<split>/*.parquet`` in natural file order. The ``split`` column must agree
with the split each shard is listed under.

Generic tables have a label column and an image column, found by name
(``label``/``labels``/``y``/``target``/``class`` and ``image``/``images``/``img``/
``pixels``/``x``, case-insensitive) or named with ``label_column``/``image_column``.
The image column may hold:

* ``fixed_size_binary(H*W)``: raw row-major uint8 pixels;
* a list (or fixed-size list) of H*W numbers, or a list of H lists of W numbers; values
  that are not uint8 are cleaned like CSV cells (``missing_pixels``,
  ``pixels_out_of_range``, ``raw_min``/``raw_max``);
* encoded image bytes (PNG, JPEG, ...), or a struct with a ``bytes`` field (the
  Hugging Face ``Image`` feature); decoded like image files (``wrong_shape``,
  ``wrong_mode``, ``unreadable``). The ``bytes`` field must be binary; a struct without
  it (only a ``path``) or with text there is a FormatError, and a row whose ``bytes`` is
  null is ``unreadable``: paths outside the table are never followed.

A null image is an all-zero, ``unreadable`` row; a null or non-integer label is
:data:`~dataqual.imageset.MISSING_LABEL`; a list of the wrong length is a FormatError
naming the file and record. Splits of a generic table come from a ``split`` column
(or ``split_column``) when there is one, else from the folder / file name
(train / test, else train). Generic ids are ``<split>/<row position within the split>``.

The shape is, in order: ``shape=``, the ``dataqual.height``/``width`` metadata, the
column type (fixed sizes), the first row's length (a square), the first decodable
encoded image; 28x28 when none applies.

Files are streamed with ``ParquetFile.iter_batches`` (one row group at a time, so a
file's row-group size bounds memory) and re-cut into chunks of exactly ``rows``.

Only regular files inside the source folder are read (:mod:`dataqual.ingest.paths`): a
``*.parquet`` entry (or a shard listed in ``manifest.json``, or the manifest itself) that
is a device, FIFO, broken link or a link leading out of the folder is a
:class:`~dataqual.errors.SourceError` naming it, never skipped. Shard ids must be unique
across the source (checked at open by reading the id column only): a repeated id is a
FormatError naming the shard and the id. The constructor reads metadata and at most a few
rows; it never allocates from a claimed shape (``open_source`` refuses large shapes next).
Rows (metadata) times ``H*W`` above ``max_expansion`` times the bytes on disk, per file or
for all files together (past the 64 MiB floor), is a decompression bomb: refused from the
metadata (:meth:`ParquetSource.check_expansion`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MAX_EXPANSION,
    DEFAULT_MAX_IMAGE_SIDE,
    MISSING_LABEL,
    ImageBatch,
    SplitInfo,
    position_ids,
)
from dataqual.ingest.csv import _strings_to_float
from dataqual.ingest.decode import DEFAULT_MAX_PIXELS, decode_images, image_size
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.paths import file_problem, require_regular_file, resolved_root
from dataqual.ingest.split import natural_key, order_splits, rechunk, split_from_name
from dataqual.ingest.values import clean_labels, clean_pixel_values
from dataqual.store.manifest import MANIFEST_NAME, Manifest

__all__ = ["ParquetSource", "find_parquet_files"]

_PAR1 = b"PAR1"
_LABEL_NAMES = ("label", "labels", "y", "target", "class")
_IMAGE_NAMES = ("image", "images", "img", "pixels", "x")
_DEFAULT_SHAPE = (28, 28)
#: A ``dataqual.height``/``width`` value: ASCII digits, at most 9 (``int()`` cannot fail).
_META_INT = re.compile(rb"[0-9]{1,9}")


@dataclass(frozen=True)
class _FileInfo:
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
class _Part:
    info: _FileInfo
    keep: str | None  # keep only rows whose split column equals this
    expect: str | None  # every row's split column must equal this


def _read_error(path: Path, exc: Exception) -> SourceError:
    if path.exists() and path.stat().st_size < 12:
        return TruncatedError(
            path, f"file of {path.stat().st_size} bytes is too short to be Parquet"
        )
    return FormatError(path, f"cannot read as Parquet: {exc}")


def _open(path: Path, root: Path | None = None) -> pq.ParquetFile:
    """Open a Parquet file after the policy check (``root`` resolved; default its folder)."""
    require_regular_file(path, resolved_root(path) if root is None else root)
    if path.stat().st_size == 0:
        raise TruncatedError(path, "file is empty")
    with path.open("rb") as f:
        if f.read(4) != _PAR1:
            raise FormatError(path, "not a Parquet file (no PAR1 magic)")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _read_error(path, exc) from exc


def _pick(
    path: Path, names: list[str], wanted: str | None, candidates: tuple[str, ...], what: str
) -> str:
    if wanted is not None:
        if wanted not in names:
            raise FormatError(path, f"no {what} column {wanted!r}; columns are {', '.join(names)}")
        return wanted
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


def _image_kind(path: Path, name: str, t: pa.DataType) -> tuple[str, tuple[int, int] | None]:
    """Kind of image column and the shape its type fixes, if any."""
    lists = (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )
    if pa.types.is_fixed_size_binary(t):
        side = math.isqrt(t.byte_width)
        return "fixed", (side, side) if side * side == t.byte_width else None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "encoded", None
    if pa.types.is_struct(t) and t.get_field_index("bytes") >= 0:
        inner = t.field(t.get_field_index("bytes")).type
        if not (
            pa.types.is_binary(inner)
            or pa.types.is_large_binary(inner)
            or pa.types.is_binary_view(inner)
        ):  # text there would be taken for a path to open: never followed
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
    if lists and _is_numeric(t.value_type):
        if pa.types.is_fixed_size_list(t):
            side = math.isqrt(t.list_size)
            return "list", (side, side) if side * side == t.list_size else None
        return "list", None
    if (
        lists
        and (
            pa.types.is_list(t.value_type)
            or pa.types.is_fixed_size_list(t.value_type)
            or pa.types.is_large_list(t.value_type)
        )
        and _is_numeric(t.value_type.value_type)
    ):
        inner = t.value_type
        if pa.types.is_fixed_size_list(t) and pa.types.is_fixed_size_list(inner):
            return "nested", (t.list_size, inner.list_size)
        return "nested", None
    raise FormatError(
        path,
        f"image column {name!r} has type {t}",
        hint="expected fixed_size_binary(H*W), encoded image bytes, a list of "
        "H*W numbers or a list of H lists of W numbers",
    )


def _inspect(
    path: Path,
    pf: pq.ParquetFile,
    *,
    label_column: str | None,
    image_column: str | None,
    split_column: str | None,
    shape: tuple[int, int] | None,
) -> _FileInfo:
    schema = pf.schema_arrow
    names = schema.names
    meta = schema.metadata or {}
    shard = b"dataqual.height" in meta and {"id", "split", "label", "image"} <= set(names)
    if shard:
        label, image, id_col, split_col = "label", "image", "id", "split"
    else:
        label = _pick(path, names, label_column, _LABEL_NAMES, "label")
        image = _pick(path, names, image_column, _IMAGE_NAMES, "image")
        id_col = None
        if split_column is not None and split_column not in names:
            raise FormatError(
                path, f"no split column {split_column!r}; columns are {', '.join(names)}"
            )
        split_col = split_column or ("split" if "split" in names else None)
    if label == image:
        raise FormatError(path, f"column {label!r} cannot be both the label and the image")
    t = schema.field(image).type
    kind, typed = _image_kind(path, image, t)
    fixed_values = (
        t.byte_width
        if kind == "fixed"
        else t.list_size
        if kind == "list" and pa.types.is_fixed_size_list(t)
        else None
    )
    found = shape
    if found is None and b"dataqual.height" in meta:
        raw = (meta.get(b"dataqual.height", b""), meta.get(b"dataqual.width", b""))
        if not all(_META_INT.fullmatch(v) for v in raw):
            raise FormatError(
                path, f"bad dataqual.height/width metadata {raw[0][:20]!r}/{raw[1][:20]!r}"
            )
        found = (int(raw[0]), int(raw[1]))  # only numbers: open_source checks the size
    if found is None:
        found = typed
    if found is not None and (found[0] <= 0 or found[1] <= 0):
        raise FormatError(path, f"image shape {found} is not positive")
    info = _FileInfo(
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
        _check_size(info, found)
    return info


def _check_size(info: _FileInfo, shape: tuple[int, int]) -> None:
    """A column type that fixes the values per image must fit the shape."""
    size = shape[0] * shape[1]
    if info.fixed_values is not None and info.fixed_values != size:
        raise FormatError(
            info.path,
            f"image column {info.image!r} holds {info.fixed_values} "
            f"values per image, a {shape[0]}x{shape[1]} image needs "
            f"{size}",
        )


def _check_file_expansion(info: _FileInfo, shape: tuple[int, int], max_expansion: float) -> None:
    """Refuse a file whose rows (from its metadata) hold more pixel bytes than
    ``max_expansion`` times its size on disk (past the 64 MiB floor)."""
    h, w = shape
    what = f"its {info.num_rows:,} rows of {h}x{w} images"
    size = info.path.stat().st_size
    check_expansion(info.path, what, info.num_rows * h * w, size, max_expansion)


def _shape_from_data(info: _FileInfo, pf: pq.ParquetFile) -> tuple[int, int] | None:
    """Shape from the first non-null image of a file (lists: a square; encoded: the header)."""
    looked = 0
    try:
        for rb in pf.iter_batches(batch_size=64, columns=[info.image], use_threads=False):
            col = rb.column(0)
            if info.image_kind == "struct":
                col = pc.struct_field(col, "bytes")
            for value in col.drop_null().to_pylist():
                if info.image_kind in ("encoded", "struct"):
                    # bytes only: image_size would open a str as a path
                    size = image_size(value) if isinstance(value, bytes) else None
                    if size is not None:
                        return size
                elif info.image_kind == "nested":
                    if len(value) and value[0] is not None and len(value[0]):
                        return len(value), len(value[0])
                else:
                    side = math.isqrt(len(value))
                    if side and side * side == len(value):
                        return side, side
                    raise FormatError(
                        info.path,
                        f"first image has {len(value)} values, not a square image",
                        hint="pass shape=(H, W)",
                    )
                looked += 1
            if looked >= 256:
                break
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise _read_error(info.path, exc) from exc
    return None


def _manifest_shards(folder: Path) -> dict[str, list[Path]]:
    """Split -> shard paths listed by ``folder/manifest.json``, each checked to be a
    regular file inside the folder (the manifest too) before anything opens it."""
    root = resolved_root(folder)
    require_regular_file(folder / MANIFEST_NAME, root)
    manifest = Manifest.load(folder)
    by_split: dict[str, list[Path]] = {}
    for shard in manifest.shards:
        path = folder / shard.path
        if not os.path.lexists(path):
            raise SourceError(path, f"listed in {MANIFEST_NAME} but missing")
        problem = file_problem(path, root)
        if problem is not None:
            raise SourceError(path, f"listed in {MANIFEST_NAME} but {problem}")
        by_split.setdefault(shard.split, []).append(path)
    return by_split


def _check_manifest_rows(folder: Path, parts: dict[str, list[_Part]]) -> None:
    manifest = Manifest.load(folder)
    for shard in manifest.shards:
        path = folder / shard.path
        got = next(p.info.num_rows for p in parts[shard.split] if p.info.path == path)
        if got != shard.rows:
            raise FormatError(path, f"holds {got} rows, {MANIFEST_NAME} says {shard.rows}")


def _parquet_entries(folder: Path, root: Path) -> list[Path]:
    """The ``*.parquet`` entries of ``folder`` (not hidden) in natural order, each checked
    to be a regular file inside ``root``: a bad one is an error naming it, not skipped."""
    out = []
    for entry in folder.iterdir():
        if entry.name[:1] == "." or entry.suffix != ".parquet":
            continue
        require_regular_file(entry, root)
        out.append(entry)
    return sorted(out, key=lambda p: natural_key(p.name))


def find_parquet_files(path: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """``({split: files in ROOT/<split>/}, [files directly in ROOT])`` of a folder, each in
    natural order (``part-2`` before ``part-10``); a file gives ``({}, [file])``.

    Every file returned passed the policy of :mod:`dataqual.ingest.paths`; a ``*.parquet``
    entry that does not is a SourceError naming it.
    """
    path = Path(path)
    root = resolved_root(path)
    if not path.is_dir():
        require_regular_file(path, root)
        return {}, [path]
    by_dir: dict[str, list[Path]] = {}
    for entry in sorted(path.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name[:1] != "." and entry.is_dir():
            files = _parquet_entries(entry, root)
            if files:
                by_dir[entry.name] = files
    return by_dir, _parquet_entries(path, root)


def _check_unique_ids(files: list[tuple[_FileInfo, pq.ParquetFile]]) -> None:
    """Shard ids must be unique across the source (they key every later table): read the
    id column only, sort it in Arrow, and name the shard, record and id of the first
    repeat in stream order. A null id is an error too."""
    if not files:
        return
    chunks: list[pa.Array] = []
    for info, pf in files:
        assert info.id is not None
        try:
            col = pf.read(columns=[info.id], use_threads=False).column(0)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _read_error(info.path, exc) from exc
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


def _labels(col: pa.Array, info: _FileInfo) -> np.ndarray:
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
        return clean_labels(_strings_to_float([col.cast(pa.string())])[:, 0])
    raise FormatError(info.path, f"label column {info.label!r} has type {t}; expected integers")


def _fixed_images(col: pa.Array, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
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


def _list_images(
    col: pa.Array, info: _FileInfo, h: int, w: int, first: int
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


def _encoded_images(
    col: pa.Array, info: _FileInfo, h: int, w: int, max_pixels: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Encoded image cells decoded like image files (shared decoder: the same counters)."""
    if info.image_kind == "struct":
        col = pc.struct_field(col, "bytes")
    return decode_images(col.to_pylist(), (h, w), max_pixels=max_pixels)


class ParquetSource:
    """Parquet files grouped into splits, streamed with ``iter_batches``."""

    def __init__(
        self,
        by_dir: dict[str, list[Path]],
        flat: list[Path],
        *,
        label_column: str | None = None,
        image_column: str | None = None,
        split_column: str | None = None,
        shape: tuple[int, int] | None = None,
        default_split: str = "train",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        description: str | None = None,
        root: Path | None = None,
        max_expansion: float = DEFAULT_MAX_EXPANSION,
    ) -> None:
        """``root``: the resolved folder every file must stay inside (default: each file's
        own folder); a file that is not a regular file inside it is a SourceError.

        Files whose rows (metadata) times ``H*W`` exceed ``max_expansion`` times their size
        on disk (past the 64 MiB floor), alone or all together, are refused before any
        column is read (see :meth:`check_expansion`). With images taller or wider than
        :data:`~dataqual.imageset.DEFAULT_MAX_IMAGE_SIDE` the check waits for
        :meth:`check_expansion`, which ``open_source`` calls after refusing large sides
        (so that refusal names the real problem) and reading calls first."""
        self._description = description or ", ".join(
            str(p) for p in [*flat, *(f for fs in by_dir.values() for f in fs)]
        )
        if not by_dir and not flat:
            raise SourceError(self._description or "<parquet>", "no Parquet files found")
        self._max_pixels = max_pixels
        self._max_expansion = max_expansion
        self._expansion_checked = False
        opts = {
            "label_column": label_column,
            "image_column": image_column,
            "split_column": split_column,
            "shape": shape,
        }
        self._parts: dict[str, list[_Part]] = {}
        self._rows: dict[str, int] = {}
        infos: list[tuple[_FileInfo, pq.ParquetFile]] = []
        for split, files in by_dir.items():
            for f in files:
                pf = _open(f, root)
                info = _inspect(f, pf, **opts)
                infos.append((info, pf))
                self._add(split, _Part(info, None, split if info.split else None), info.num_rows)
        for f in flat:
            pf = _open(f, root)
            info = _inspect(f, pf, **opts)
            infos.append((info, pf))
            if info.shape is not None and max(info.shape) <= DEFAULT_MAX_IMAGE_SIDE:
                _check_file_expansion(info, info.shape, max_expansion)  # before any column
            if info.split is None:
                self._add(
                    split_from_name(f.stem, default_split), _Part(info, None, None), info.num_rows
                )
                continue
            for value, count in self._split_counts(info, pf).items():
                self._add(value, _Part(info, value, None), count)
        shapes = {i.shape for i, _ in infos if i.shape is not None}
        if not shapes:
            for info, pf in infos:
                found = _shape_from_data(info, pf)
                if found is not None:
                    shapes.add(found)
                    break
        if len(shapes) > 1:
            raise FormatError(
                self._description, f"files have different image shapes: {sorted(shapes)}"
            )
        self._shape = shapes.pop() if shapes else _DEFAULT_SHAPE
        for info, _ in infos:
            _check_size(info, self._shape)
        self._infos = [info for info, _ in infos]
        if max(self._shape) <= DEFAULT_MAX_IMAGE_SIDE:
            self.check_expansion()  # before the id columns are read
        opened = {info.path: (info, pf) for info, pf in infos if info.id is not None}
        in_stream_order = dict.fromkeys(
            p.info.path for s in order_splits(self._parts) for p in self._parts[s]
        )
        _check_unique_ids([opened[f] for f in in_stream_order if f in opened])

    def check_expansion(self) -> None:
        """Refuse the source when a file, or all files together, declare (rows in metadata x
        ``H*W``) more bytes than ``max_expansion`` times their size on disk, past the 64 MiB
        floor: a decompression bomb. Metadata only; done once."""
        if self._expansion_checked:
            return
        h, w = self._shape
        for info in self._infos:
            _check_file_expansion(info, self._shape, self._max_expansion)
        if len(self._infos) > 1:
            rows = sum(i.num_rows for i in self._infos)
            size = sum(i.path.stat().st_size for i in self._infos)
            what = f"its {len(self._infos)} files of {rows:,} rows of {h}x{w} images"
            check_expansion(self._description, what, rows * h * w, size, self._max_expansion)
        self._expansion_checked = True

    def _add(self, split: str, part: _Part, rows: int) -> None:
        self._parts.setdefault(split, []).append(part)
        self._rows[split] = self._rows.get(split, 0) + rows

    @staticmethod
    def _split_counts(info: _FileInfo, pf: pq.ParquetFile) -> dict[str, int]:
        """Rows per value of the split column (one pass over that column only)."""
        counts: dict[str, int] = {}
        try:
            for rb in pf.iter_batches(columns=[info.split], use_threads=False):
                col = rb.column(0)
                if col.null_count:
                    raise FormatError(
                        info.path, f"split column {info.split!r} has {col.null_count} null values"
                    )
                if not (
                    pa.types.is_string(col.type)
                    or pa.types.is_large_string(col.type)
                    or pa.types.is_dictionary(col.type)
                ):
                    col = col.cast(pa.string())
                vc = pc.value_counts(col)
                for value, count in zip(
                    vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True
                ):
                    counts[str(value)] = counts.get(str(value), 0) + count
        except (pa.ArrowException, OSError, ValueError) as exc:
            if isinstance(exc, SourceError):
                raise
            raise _read_error(info.path, exc) from exc
        return counts

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        label_column: str | None = None,
        image_column: str | None = None,
        split_column: str | None = None,
        shape: tuple[int, int] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_expansion: float = DEFAULT_MAX_EXPANSION,
    ) -> ParquetSource:
        """A shard folder (``ROOT/<split>/*.parquet``), a folder of Parquet files (split
        from each name) or one file."""
        path = Path(path)
        if not os.path.lexists(path):
            raise SourceError(path, "no such file or folder")
        # lexists: a manifest that is a FIFO or broken link is refused, not skipped
        manifest = path.is_dir() and os.path.lexists(path / MANIFEST_NAME)
        by_dir, flat = (_manifest_shards(path), []) if manifest else find_parquet_files(path)
        source = cls(
            by_dir,
            flat,
            label_column=label_column,
            image_column=image_column,
            split_column=split_column,
            shape=shape,
            max_pixels=max_pixels,
            description=str(path),
            root=resolved_root(path),
            max_expansion=max_expansion,
        )
        if manifest:
            _check_manifest_rows(path, source._parts)
        return source

    @property
    def description(self) -> str:
        return self._description

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    def splits(self) -> list[SplitInfo]:
        return [
            SplitInfo(s, self._rows[s], tuple(dict.fromkeys(p.info.path for p in self._parts[s])))
            for s in order_splits(self._parts)
        ]

    def files(self) -> list[Path]:
        return list(dict.fromkeys(p.info.path for parts in self._parts.values() for p in parts))

    def _record_batches(
        self, part: _Part, columns: list[str], rows: int
    ) -> Iterator[pa.RecordBatch]:
        """Batches of one part's rows (filtered to its split), split column checked."""
        info = part.info
        self.check_expansion()  # a large shape deferred it: never read a bomb
        require_regular_file(info.path)  # again: never open a FIFO swapped in since
        try:
            pf = pq.ParquetFile(info.path)
            seen = 0
            for rb in pf.iter_batches(batch_size=rows, columns=columns, use_threads=False):
                if info.split is not None:
                    col = rb.column(columns.index(info.split))
                    if part.keep is not None:
                        rb = rb.filter(
                            pc.fill_null(pc.equal(col.cast(pa.string()), part.keep), False)
                        )
                    elif part.expect is not None:
                        ok = pc.fill_null(pc.equal(col.cast(pa.string()), part.expect), False)
                        if not pc.all(ok).as_py():
                            bad = int(np.flatnonzero(~ok.to_numpy(zero_copy_only=False))[0])
                            raise FormatError(
                                info.path,
                                f"row is in split {col[bad].as_py()!r}"
                                f" but the file is in folder "
                                f"{part.expect!r}",
                                record=seen + bad,
                            )
                seen += rb.num_rows
                yield rb
        except (pa.ArrowException, OSError, ValueError) as exc:
            if isinstance(exc, SourceError):
                raise
            raise _read_error(info.path, exc) from exc

    def labels(self, split: str) -> np.ndarray:
        """All labels of a split, reading only the label (and split) columns."""
        parts = []
        for part in self._parts[split]:
            cols = list(
                dict.fromkeys([part.info.label, *([part.info.split] if part.info.split else [])])
            )
            for rb in self._record_batches(part, cols, DEFAULT_BATCH_ROWS):
                parts.append(_labels(rb.column(0), part.info))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Stream a split in chunks of exactly ``rows`` records (the last one shorter)."""
        yield from rechunk(self._batches(split, rows), rows)

    def _batches(self, split: str, rows: int) -> Iterator[ImageBatch]:
        h, w = self._shape
        position = 0
        for part in self._parts[split]:
            info = part.info
            cols = list(
                dict.fromkeys(
                    c for c in (info.label, info.image, info.id, info.split) if c is not None
                )
            )
            for rb in self._record_batches(part, cols, rows):
                n = rb.num_rows
                if not n:
                    continue
                col = rb.column(cols.index(info.image))
                raw_min = raw_max = None
                if info.image_kind == "fixed":
                    images, unreadable = _fixed_images(col, h, w)
                    defects = {"unreadable": unreadable} if unreadable.any() else {}
                elif info.image_kind in ("list", "nested"):
                    images, defects, raw_min, raw_max = _list_images(col, info, h, w, position)
                else:
                    images, defects = _encoded_images(col, info, h, w, self._max_pixels)
                if info.id is not None:
                    id_col = rb.column(cols.index(info.id))
                    if id_col.null_count:
                        raise FormatError(
                            info.path,
                            f"id column has {id_col.null_count} null values",
                            record=position,
                        )
                    ids = id_col.to_numpy(zero_copy_only=False).astype(str)
                else:
                    ids = position_ids(split, position, position + n)
                yield ImageBatch(
                    split=split,
                    ids=ids,
                    labels=_labels(rb.column(cols.index(info.label)), info),
                    images=images,
                    positions=np.arange(position, position + n, dtype=np.int64),
                    defects=defects,
                    raw_min=raw_min,
                    raw_max=raw_max,
                )
                position += n
