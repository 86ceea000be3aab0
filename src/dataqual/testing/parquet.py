"""Parquet writers: generic tables of labels and images, and dataqual's own shards.

The layouts are the ones :class:`~dataqual.ingest.parquet.ParquetSource` reads: a generic
table has an ``image`` column (raw bytes, lists of numbers, or encoded images) and a
``label`` column, and optionally a ``split`` column; files are one per split
(``ROOT/<split>-00000-of-00001.parquet``, Hugging Face's names), in split folders
(``ROOT/<split>/part-0.parquet``) or one file with a ``split`` column. Shards
(``<split>/part-NNNNN.parquet`` plus ``manifest.json``) round-trip ids exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataqual.files import sha256_file
from dataqual.imageset import ImageSource
from dataqual.store.manifest import Manifest, ShardEntry, SplitEntry
from dataqual.store.schema import batch_to_table
from dataqual.testing.arrays import Data
from dataqual.testing.images import png_bytes

__all__ = [
    "IMAGE_KINDS",
    "ParquetLayout",
    "generic_table",
    "write_parquet_dataset",
    "write_shards",
]

#: ``files``: one file per split; ``dirs``: ``<split>/part-0.parquet``; ``column``: one
#: file (the path given) whose ``split`` column names each row's split.
ParquetLayout = Literal["files", "dirs", "column"]


def _fixed(x: np.ndarray) -> pa.Array:
    n, h, w = x.shape
    buffer = pa.py_buffer(np.ascontiguousarray(x).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(h * w), n, [None, buffer])


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


#: Image column encodings: kind -> function of the ``(n, H, W)`` images.
IMAGE_KINDS: dict[str, Callable[[np.ndarray], pa.Array]] = {
    "fixed": _fixed,
    "list": lambda x: pa.array(list(_flat(x)), type=pa.list_(pa.uint8())),
    "list_int64": lambda x: pa.array(list(_flat(x).astype(np.int64)), type=pa.list_(pa.int64())),
    "fixed_list": lambda x: pa.array(
        list(_flat(x)), type=pa.list_(pa.uint8(), x.shape[1] * x.shape[2])
    ),
    "nested": lambda x: pa.array([list(r) for r in x], type=pa.list_(pa.list_(pa.uint8()))),
    "png": lambda x: pa.array([png_bytes(i) for i in x], type=pa.binary()),
    "hf": lambda x: pa.array(
        [{"bytes": png_bytes(i), "path": None} for i in x],
        type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
    ),
}


def generic_table(x: np.ndarray, y: np.ndarray, kind: str, split: str | None = None) -> pa.Table:
    """A non-dataqual table: an ``image`` column encoded as ``kind`` (a key of
    :data:`IMAGE_KINDS`), a ``label`` column (int64) and, when ``split`` is given, a
    ``split`` column holding it on every row."""
    if kind not in IMAGE_KINDS:
        raise ValueError(f"unknown image kind {kind!r}; known: {', '.join(IMAGE_KINDS)}")
    x = np.asarray(x, dtype=np.uint8)
    cols = {"image": IMAGE_KINDS[kind](x), "label": pa.array(np.asarray(y).astype(np.int64))}
    if split is not None:
        cols["split"] = pa.array([split] * len(x))
    return pa.table(cols)


def write_parquet_dataset(
    path: str | Path, data: Data, kind: str = "fixed", layout: ParquetLayout = "files"
) -> Path:
    """Every split of ``data`` as generic tables (see :func:`generic_table`) in ``layout``;
    ``path`` is the folder, or for ``column`` the one file. Returns ``path``."""
    path = Path(path)
    if layout == "column":
        tables = [generic_table(x, y, kind, split=s) for s, (x, y) in data.items()]
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(tables), path)
        return path
    for split, (x, y) in data.items():
        name = f"{split}/part-0.parquet" if layout == "dirs" else f"{split}-00000-of-00001.parquet"
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(generic_table(x, y, kind), path / name)
    return path


def write_shards(
    folder: str | Path, source: ImageSource, rows: int = 20, manifest: bool = True
) -> Path:
    """dataqual shards ``<split>/part-NNNNN.parquet`` of ``rows`` rows from a source's
    stream, listed in a ``manifest.json`` unless ``manifest`` is False."""
    folder = Path(folder)
    entries: list[ShardEntry] = []
    splits: dict[str, SplitEntry] = {}
    for info in source.splits():
        (folder / info.name).mkdir(parents=True, exist_ok=True)
        total = 0
        for i, batch in enumerate(source.iter_batches(info.name, rows)):
            name = f"{info.name}/part-{i:05d}.parquet"
            pq.write_table(batch_to_table(batch), folder / name)
            sha = sha256_file(folder / name)
            entries.append(ShardEntry(path=name, split=info.name, rows=len(batch), sha256=sha))
            total += len(batch)
        splits[info.name] = SplitEntry(rows=total, label_counts={})
    if manifest:
        h, w = source.shape
        Manifest(height=h, width=w, splits=splits, shards=entries).write(folder)
    return folder
