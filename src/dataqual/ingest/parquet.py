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

Files are found by :mod:`.parquet_files`, their columns worked out by
:mod:`.parquet_schema` and converted by :mod:`.parquet_columns`. Files are streamed with
``ParquetFile.iter_batches`` (one row group at a time, so a file's row-group size bounds
memory) and re-cut into chunks of exactly ``rows``.

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

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataqual.errors import FormatError, SourceError
from dataqual.imageset import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MAX_EXPANSION,
    DEFAULT_MAX_IMAGE_SIDE,
    SplitInfo,
)
from dataqual.ingest.decode import DEFAULT_MAX_PIXELS
from dataqual.ingest.formats import register_reader
from dataqual.ingest.limits import check_expansion
from dataqual.ingest.parquet_columns import (
    check_unique_ids,
    column_labels,
    encoded_images,
    fixed_images,
    list_images,
)
from dataqual.ingest.parquet_files import (
    check_manifest_rows,
    detect_parquet,
    find_parquet_files,
    manifest_shards,
    open_parquet,
    read_error,
)
from dataqual.ingest.parquet_schema import (
    FileInfo,
    Part,
    check_file_expansion,
    check_size,
    inspect_file,
    shape_from_data,
)
from dataqual.ingest.paths import require_regular_file, resolved_root
from dataqual.ingest.reader import Reader, Records, wrap_errors
from dataqual.ingest.split import order_splits, split_from_name
from dataqual.store.manifest import MANIFEST_NAME

__all__ = ["ParquetSource", "find_parquet_files"]

_DEFAULT_SHAPE = (28, 28)
_OPTIONS = ("label_column", "image_column", "split_column", "shape")


def _split_counts(info: FileInfo, pf: pq.ParquetFile) -> dict[str, int]:
    """Rows per value of the split column (one pass over that column only)."""
    counts: dict[str, int] = {}
    with wrap_errors(info.path, lambda exc: read_error(info.path, exc)):
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
    return counts


def _keep_split(rb: pa.RecordBatch, part: Part, column: int, seen: int) -> pa.RecordBatch:
    """The rows of ``rb`` in the part's split; a row of another split in a split folder is
    an error naming its record."""
    col = rb.column(column)
    if part.keep is not None:
        return rb.filter(pc.fill_null(pc.equal(col.cast(pa.string()), part.keep), False))
    if part.expect is not None:
        ok = pc.fill_null(pc.equal(col.cast(pa.string()), part.expect), False)
        if not pc.all(ok).as_py():
            bad = int(np.flatnonzero(~ok.to_numpy(zero_copy_only=False))[0])
            raise FormatError(
                part.info.path,
                f"row is in split {col[bad].as_py()!r} but the file is in folder {part.expect!r}",
                record=seen + bad,
            )
    return rb


def _shard_ids(rb: pa.RecordBatch, info: FileInfo, column: int, position: int) -> np.ndarray:
    id_col = rb.column(column)
    if id_col.null_count:
        raise FormatError(
            info.path, f"id column has {id_col.null_count} null values", record=position
        )
    return id_col.to_numpy(zero_copy_only=False).astype(str)


@register_reader("parquet", detect=detect_parquet, priority=30)
class ParquetSource(Reader):
    """Parquet files grouped into splits, streamed with ``iter_batches``."""

    options = frozenset(_OPTIONS)

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
        self._parts: dict[str, list[Part]] = {}
        self._rows: dict[str, int] = {}
        opts = {
            "label_column": label_column,
            "image_column": image_column,
            "split_column": split_column,
            "shape": shape,
        }
        infos = self._add_files(by_dir, flat, root, default_split, opts)
        self._shape = self._find_shape(infos)
        self._infos = [info for info, _ in infos]
        if max(self._shape) <= DEFAULT_MAX_IMAGE_SIDE:
            self.check_expansion()  # before the id columns are read
        opened = {info.path: (info, pf) for info, pf in infos if info.id is not None}
        in_stream_order = dict.fromkeys(
            p.info.path for s in order_splits(self._parts) for p in self._parts[s]
        )
        check_unique_ids([opened[f] for f in in_stream_order if f in opened])

    def _add_files(
        self,
        by_dir: dict[str, list[Path]],
        flat: list[Path],
        root: Path | None,
        default_split: str,
        opts: dict[str, Any],
    ) -> list[tuple[FileInfo, pq.ParquetFile]]:
        """Open and inspect every file, assigning its rows to splits."""
        infos: list[tuple[FileInfo, pq.ParquetFile]] = []
        for split, files in by_dir.items():
            for f in files:
                pf = open_parquet(f, root)
                info = inspect_file(f, pf, **opts)
                infos.append((info, pf))
                self._add(split, Part(info, None, split if info.split else None), info.num_rows)
        for f in flat:
            pf = open_parquet(f, root)
            info = inspect_file(f, pf, **opts)
            infos.append((info, pf))
            if info.shape is not None and max(info.shape) <= DEFAULT_MAX_IMAGE_SIDE:
                check_file_expansion(info, info.shape, self._max_expansion)  # before any column
            if info.split is None:
                split = split_from_name(f.stem, default_split)
                self._add(split, Part(info, None, None), info.num_rows)
                continue
            for value, count in _split_counts(info, pf).items():
                self._add(value, Part(info, value, None), count)
        return infos

    def _find_shape(self, infos: list[tuple[FileInfo, pq.ParquetFile]]) -> tuple[int, int]:
        """The one image shape of every file (see the module docstring for the order)."""
        shapes = {i.shape for i, _ in infos if i.shape is not None}
        if not shapes:
            for info, pf in infos:
                found = shape_from_data(info, pf)
                if found is not None:
                    shapes.add(found)
                    break
        if len(shapes) > 1:
            raise FormatError(
                self._description, f"files have different image shapes: {sorted(shapes)}"
            )
        shape = shapes.pop() if shapes else _DEFAULT_SHAPE
        for info, _ in infos:
            check_size(info, shape)
        return shape

    def check_expansion(self) -> None:
        """Refuse the source when a file, or all files together, declare (rows in metadata x
        ``H*W``) more bytes than ``max_expansion`` times their size on disk, past the 64 MiB
        floor: a decompression bomb. Metadata only; done once."""
        if self._expansion_checked:
            return
        h, w = self._shape
        for info in self._infos:
            check_file_expansion(info, self._shape, self._max_expansion)
        if len(self._infos) > 1:
            rows = sum(i.num_rows for i in self._infos)
            size = sum(i.path.stat().st_size for i in self._infos)
            what = f"its {len(self._infos)} files of {rows:,} rows of {h}x{w} images"
            check_expansion(self._description, what, rows * h * w, size, self._max_expansion)
        self._expansion_checked = True

    def check_limits(self) -> None:
        self.check_expansion()  # deferred by the constructor when the shape is large

    def _add(self, split: str, part: Part, rows: int) -> None:
        self._parts.setdefault(split, []).append(part)
        self._rows[split] = self._rows.get(split, 0) + rows

    @classmethod
    def open(  # type: ignore[override]
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
        by_dir, flat = (manifest_shards(path), []) if manifest else find_parquet_files(path)
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
            rows = {
                (s, p.info.path): p.info.num_rows for s, ps in source._parts.items() for p in ps
            }
            check_manifest_rows(path, rows)
        return source

    def splits(self) -> list[SplitInfo]:
        return [
            SplitInfo(s, self._rows[s], tuple(dict.fromkeys(p.info.path for p in self._parts[s])))
            for s in order_splits(self._parts)
        ]

    def files(self) -> list[Path]:
        return list(dict.fromkeys(p.info.path for parts in self._parts.values() for p in parts))

    def _record_batches(
        self, part: Part, columns: list[str], rows: int
    ) -> Iterator[pa.RecordBatch]:
        """Batches of one part's rows (filtered to its split), split column checked."""
        info = part.info
        self.check_expansion()  # a large shape deferred it: never read a bomb
        require_regular_file(info.path)  # again: never open a FIFO swapped in since
        with wrap_errors(info.path, lambda exc: read_error(info.path, exc)):
            pf = pq.ParquetFile(info.path)
            seen = 0
            for rb in pf.iter_batches(batch_size=rows, columns=columns, use_threads=False):
                n = rb.num_rows
                if info.split is not None:
                    rb = _keep_split(rb, part, columns.index(info.split), seen)
                seen += n
                yield rb

    def labels(self, split: str) -> np.ndarray:
        """All labels of a split, reading only the label (and split) columns."""
        parts = []
        for part in self._parts[split]:
            info = part.info
            cols = list(dict.fromkeys([info.label, *([info.split] if info.split else [])]))
            for rb in self._record_batches(part, cols, DEFAULT_BATCH_ROWS):
                parts.append(column_labels(rb.column(0), info))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def _images(self, col: pa.Array, info: FileInfo, position: int) -> dict[str, Any]:
        """Images, defects and raw values of an image column, as :class:`Records` fields."""
        h, w = self._shape
        if info.image_kind == "fixed":
            images, unreadable = fixed_images(col, h, w)
            return {
                "images": images,
                "defects": {"unreadable": unreadable} if unreadable.any() else {},
            }
        if info.image_kind in ("list", "nested"):
            images, defects, raw_min, raw_max = list_images(col, info, h, w, position)
            return {"images": images, "defects": defects, "raw_min": raw_min, "raw_max": raw_max}
        images, defects = encoded_images(col, info, h, w, self._max_pixels)
        return {"images": images, "defects": defects}

    def records(self, split: str, rows: int) -> Iterator[Records]:
        """Each file's rows of the split, one row group at a time."""
        position = 0
        for part in self._parts[split]:
            info = part.info
            names = (info.label, info.image, info.id, info.split)
            cols = list(dict.fromkeys(c for c in names if c is not None))
            for rb in self._record_batches(part, cols, rows):
                if not rb.num_rows:
                    continue
                ids = None
                if info.id is not None:
                    ids = _shard_ids(rb, info, cols.index(info.id), position)
                yield Records(
                    labels=column_labels(rb.column(cols.index(info.label)), info),
                    ids=ids,
                    **self._images(rb.column(cols.index(info.image)), info, position),
                )
                position += rb.num_rows
