"""Writers for the ingest reader tests: the same random arrays in every format.

Everything is generated in a temporary folder; no binary blobs are committed.
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from PIL import Image

from dataqual.files import sha256_file
from dataqual.imageset import ImageBatch, ImageSource
from dataqual.ingest.idx import IdxSource
from dataqual.ingest.split import concat_batches
from dataqual.store.manifest import Manifest, ShardEntry, SplitEntry
from dataqual.store.schema import batch_to_table

__all__ = [
    "MNIST",
    "Data",
    "assert_same_stream",
    "csv_table",
    "folder_order",
    "generic_table",
    "idx_bytes",
    "idx_stream",
    "joined",
    "png_bytes",
    "random_data",
    "read_all",
    "write_csv",
    "write_idx",
    "write_images",
    "write_npz",
    "write_shards",
]

MNIST = Path("/work/shared/datasets/mnist")
Data = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (images uint8 (n,H,W), labels)
_IDX_PREFIX = {"train": "train", "test": "t10k"}


def random_data(
    seed: int = 0, sizes: dict[str, int] | None = None, shape: tuple[int, int] = (28, 28)
) -> Data:
    """Random images and labels per split (sparse 'digits': mostly zeros, like MNIST)."""
    rng = np.random.default_rng(seed)
    out: Data = {}
    for split, n in (sizes or {"train": 45, "test": 13}).items():
        x = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        x[rng.random(x.shape) < 0.6] = 0
        out[split] = (x, rng.integers(0, 10, n).astype(np.uint8))
    return out


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: two zero bytes, type 0x08, ndim, big-endian dims, values."""
    array = np.asarray(array, dtype=np.uint8)
    head = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.tobytes()


def write_idx(folder: Path, data: Data, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in data.items():
        prefix = _IDX_PREFIX.get(split, split)
        for kind, arr, nd in (("images", x, 3), ("labels", y, 1)):
            raw = idx_bytes(arr)
            name = f"{prefix}-{kind}-idx{nd}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
            else:
                (folder / name).write_bytes(raw)
    return folder


def write_npz(path: Path, data: Data, compressed: bool = False, channel: bool = False) -> Path:
    arrays = {}
    for split, (x, y) in data.items():
        arrays[f"x_{split}"] = x[..., None] if channel else x
        arrays[f"y_{split}"] = y
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def csv_table(x: np.ndarray, y: np.ndarray | None, header: str | None) -> pa.Table:
    n, h, w = x.shape
    if header == "rowcol":
        names = [f"{r}x{c}" for r in range(1, h + 1) for c in range(1, w + 1)]
    else:
        names = [f"pixel{i}" for i in range(h * w)]
    flat = x.reshape(n, h * w)
    cols = [pa.array(flat[:, i]) for i in range(h * w)]
    if y is not None:
        cols, names = [pa.array(y.astype(np.int64)), *cols], ["label", *names]
    return pa.Table.from_arrays(cols, names=names)


def write_csv(
    path: Path, x: np.ndarray, y: np.ndarray | None, header: str | None = None, gz: bool = False
) -> Path:
    """``header``: None (label first, no header), "pixel" or "rowcol"."""
    sink = io.BytesIO()
    pacsv.write_csv(
        csv_table(x, y, header),
        sink,
        write_options=pacsv.WriteOptions(include_header=header is not None, quoting_style="none"),
    )
    raw = sink.getvalue()
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0) if gz else raw)
    return path


def png_bytes(img: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    im = Image.fromarray(img, mode="L")
    extra = {"compress_level": 1} if fmt == "PNG" else {}
    (im if mode == "L" else im.convert(mode)).save(out, format=fmt, **extra)
    return out.getvalue()


def write_images(root: Path, data: Data, layout: str = "split") -> Path:
    """``ROOT/<split>/<label>/<position>.png`` ("split") or ``ROOT/<label>/...`` ("class",
    only the train split)."""
    for split, (x, y) in data.items():
        if layout == "class" and split != "train":
            continue
        base = root / split if layout == "split" else root
        for i, (img, lab) in enumerate(zip(x, y, strict=True)):
            d = base / str(int(lab))
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i}.png").write_bytes(png_bytes(img))
    return root


def folder_order(data: Data, split: str) -> np.ndarray:
    """Row order of an image folder written by :func:`write_images`: label, then position."""
    _, y = data[split]
    return np.lexsort((np.arange(len(y)), y))


def write_shards(folder: Path, source: ImageSource, rows: int = 20, manifest: bool = True) -> Path:
    """dataqual shards ``<split>/part-NNNNN.parquet`` from a source's stream, listed in a
    ``manifest.json`` unless ``manifest`` is False."""
    entries, splits = [], {}
    for info in source.splits():
        d = folder / info.name
        d.mkdir(parents=True, exist_ok=True)
        total = 0
        for i, batch in enumerate(source.iter_batches(info.name, rows)):
            path = d / f"part-{i:05d}.parquet"
            pq.write_table(batch_to_table(batch), path)
            entries.append(
                ShardEntry(
                    path=f"{info.name}/{path.name}",
                    split=info.name,
                    rows=len(batch),
                    sha256=sha256_file(path),
                )
            )
            total += len(batch)
        splits[info.name] = SplitEntry(rows=total, label_counts={})
    if manifest:
        h, w = source.shape
        Manifest(height=h, width=w, splits=splits, shards=entries).write(folder)
    return folder


def generic_table(x: np.ndarray, y: np.ndarray, kind: str, split: str | None = None) -> pa.Table:
    """A non-dataqual table: ``label`` + ``image`` column of the given kind."""
    n, h, w = x.shape
    flat = x.reshape(n, h * w)
    if kind == "fixed":
        image = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(h * w), n, [None, pa.py_buffer(flat.tobytes())]
        )
    elif kind == "list":
        image = pa.array(list(flat), type=pa.list_(pa.uint8()))
    elif kind == "list_int64":
        image = pa.array(list(flat.astype(np.int64)), type=pa.list_(pa.int64()))
    elif kind == "fixed_list":
        image = pa.array(list(flat), type=pa.list_(pa.uint8(), h * w))
    elif kind == "nested":
        image = pa.array([list(r) for r in x], type=pa.list_(pa.list_(pa.uint8())))
    elif kind == "png":
        image = pa.array([png_bytes(i) for i in x], type=pa.binary())
    elif kind == "hf":
        image = pa.array(
            [{"bytes": png_bytes(i), "path": None} for i in x],
            type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
        )
    else:
        raise ValueError(kind)
    cols = {"image": image, "label": pa.array(y.astype(np.int64))}
    if split is not None:
        cols["split"] = pa.array([split] * n)
    return pa.table(cols)


def read_all(source: ImageSource, rows: int = 16) -> dict[str, list[ImageBatch]]:
    return {s.name: list(source.iter_batches(s.name, rows)) for s in source.splits()}


def joined(batches: Iterable[ImageBatch]) -> ImageBatch:
    return concat_batches(list(batches))


def assert_same_stream(
    got: dict[str, list[ImageBatch]], want: dict[str, list[ImageBatch]], ids: bool = True
) -> None:
    """Byte-identical images, labels, positions (and ids) in the same batches."""
    assert list(got) == list(want)
    for split in want:
        assert [len(b) for b in got[split]] == [len(b) for b in want[split]], split
        for g, w in zip(got[split], want[split], strict=True):
            assert g.split == w.split
            assert g.images.dtype == np.uint8 and g.images.shape == w.images.shape
            assert g.images.tobytes() == w.images.tobytes()
            assert np.array_equal(g.labels, w.labels) and g.labels.dtype == np.int64
            assert np.array_equal(g.positions, w.positions)
            if ids:
                assert g.ids.tolist() == w.ids.tolist()
            for name, counts in g.defects.items():
                assert not counts.any(), (split, name)


def idx_stream(folder: Path, rows: int = 16) -> dict[str, list[ImageBatch]]:
    return read_all(IdxSource.from_folder(folder), rows)
