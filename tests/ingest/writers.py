"""Writers and stream checks for the ingest reader tests: the same random arrays in every
format.

The writers are :mod:`dataqual.testing`'s, re-exported under the names the tests use
(``write_idx`` here writes a whole folder: :func:`~dataqual.testing.write_idx_dataset`,
plain by default and gzip level 1 when asked). Everything is generated in a temporary
folder; no binary blobs are committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

import numpy as np

from dataqual.files import sha256_file
from dataqual.imageset import ImageBatch, ImageSource
from dataqual.ingest.idx import IdxSource
from dataqual.ingest.split import concat_batches
from dataqual.testing import (
    Data,
    csv_table,
    folder_order,
    generic_table,
    idx_bytes,
    png_bytes,
    random_data,
    write_csv,
    write_idx_dataset,
    write_images,
    write_npz,
    write_shards,
)

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
    "sha256_file",
    "write_csv",
    "write_idx",
    "write_images",
    "write_npz",
    "write_shards",
]

MNIST = Path("/work/shared/datasets/mnist")

#: ``write_idx(folder, data, gz=False)``: the ingest tests' IDX folders (fast gzip when asked).
write_idx = partial(write_idx_dataset, gz=False, level=1)


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
