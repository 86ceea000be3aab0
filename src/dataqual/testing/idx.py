"""IDX writers: one array as an IDX file, and a whole MNIST-layout folder of them.

The layout is the one :class:`~dataqual.ingest.idx.IdxSource` reads: per split a
``<prefix>-images-idx3-ubyte`` and ``<prefix>-labels-idx1-ubyte`` file, optionally ``.gz``,
with prefix ``t10k`` for the test split (the official MNIST names) and the split name else.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from dataqual.testing.arrays import Data, as_images, as_labels
from dataqual.testing.compress import write_file

__all__ = [
    "IDX_TYPE_CODES",
    "idx_bytes",
    "idx_header",
    "idx_names",
    "write_idx_dataset",
    "write_idx_file",
]

#: IDX type code per NumPy dtype (values are stored big-endian).
IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}

#: File-name prefix of each split in the official MNIST layout.
_PREFIX = {"train": "train", "test": "t10k"}


def idx_header(dims: tuple[int, ...] | list[int], type_code: int = 0x08) -> bytes:
    """An IDX header: two zero bytes, the type code, ndim, then one big-endian uint32 per dim.

    The dims are written as given, so a header may claim more records than follow.
    """
    return struct.pack(">HBB", 0, type_code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: its header then its values, big-endian, row-major.

    uint8 arrays are the MNIST case; other dtypes in :data:`IDX_TYPE_CODES` (any byte order)
    get the matching type code, for tests of readers that must reject them.
    """
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big not in IDX_TYPE_CODES:
        raise TypeError(f"no IDX type code for dtype {array.dtype}")
    return idx_header(array.shape, IDX_TYPE_CODES[big]) + np.ascontiguousarray(array, big).tobytes()


def write_idx_file(
    path: str | Path,
    array: np.ndarray,
    gz: bool = True,
    *,
    level: int = 9,
    header_name: bool = False,
) -> Path:
    """Write ``array`` as an IDX file at exactly ``path``, gzip-compressed when ``gz``.

    The name is not changed: pass ``...-ubyte.gz`` with ``gz=True`` for a reader to find it
    by its standard name. ``level`` is the gzip level; ``header_name`` stores the file name
    in the gzip header (as ``gzip.open`` does). ``mtime=0``: the bytes are reproducible.
    """
    return write_file(path, idx_bytes(array), gz=gz, level=level, header_name=header_name)


def idx_names(split: str, gz: bool = True) -> tuple[str, str]:
    """Standard (images, labels) file names of a split (prefix ``t10k`` for ``test``)."""
    prefix = _PREFIX.get(split, split)
    suffix = ".gz" if gz else ""
    return f"{prefix}-images-idx3-ubyte{suffix}", f"{prefix}-labels-idx1-ubyte{suffix}"


def write_idx_dataset(
    folder: str | Path, data: Data, gz: bool = True, *, level: int = 9, header_name: bool = False
) -> Path:
    """An MNIST-layout folder: the images and labels of every split of ``data`` as IDX files.

    Images must be integer ``(n, H, W)`` and labels ``(n,)``, all values in 0..255 (written
    as uint8; ValueError otherwise). Returns ``folder``, ready for ``open_source``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in data.items():
        x = as_images(images, f"{split} images")
        y = as_labels(labels, len(x), f"{split} labels")
        opts = {"gz": gz, "level": level, "header_name": header_name}
        for name, array in zip(idx_names(split, gz), (x, y), strict=True):
            write_idx_file(folder / name, array, **opts)
    return folder
