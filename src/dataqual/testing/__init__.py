"""Test data for dataqual and its users: writers for every format the readers accept, and a
fake-dataset factory with planted defects.

Everything is deterministic (fixed seeds, gzip ``mtime=0``), writes only where it is told,
and never pickles. Only runtime dependencies are imported, so the toolkit ships with the
package::

    from dataqual.testing import fake_dataset, write_idx_dataset

    fake = fake_dataset(rows={"train": 60, "test": 20}, defects={"blank": 2, "leak": 1})
    source = write_idx_dataset(tmp_path / "idx", fake.data)
    assert {d.id for d in fake.defects} == set(fake.ids())
"""

from dataqual.testing.arrays import Data, as_images, as_labels
from dataqual.testing.compress import gzip_bytes, write_file
from dataqual.testing.csv import CsvHeader, csv_bytes, csv_table, write_csv, write_csv_dataset
from dataqual.testing.fake import DEFECT_KINDS, FakeDataset, PlantedDefect, fake_dataset
from dataqual.testing.idx import (
    IDX_TYPE_CODES,
    idx_bytes,
    idx_header,
    idx_names,
    write_idx_dataset,
    write_idx_file,
)
from dataqual.testing.images import Layout, folder_order, png_bytes, write_images
from dataqual.testing.noise import random_data, random_images
from dataqual.testing.npz import write_npz
from dataqual.testing.parquet import (
    IMAGE_KINDS,
    ParquetLayout,
    generic_table,
    write_parquet_dataset,
    write_shards,
)

__all__ = [
    "DEFECT_KINDS",
    "IDX_TYPE_CODES",
    "IMAGE_KINDS",
    "CsvHeader",
    "Data",
    "FakeDataset",
    "Layout",
    "ParquetLayout",
    "PlantedDefect",
    "as_images",
    "as_labels",
    "csv_bytes",
    "csv_table",
    "fake_dataset",
    "folder_order",
    "generic_table",
    "gzip_bytes",
    "idx_bytes",
    "idx_header",
    "idx_names",
    "png_bytes",
    "random_data",
    "random_images",
    "write_csv",
    "write_csv_dataset",
    "write_file",
    "write_idx_dataset",
    "write_idx_file",
    "write_images",
    "write_npz",
    "write_parquet_dataset",
    "write_shards",
]
