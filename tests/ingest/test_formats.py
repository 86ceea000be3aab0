"""Every format, written from the same arrays, streams exactly what the IDX reader streams."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataqual.errors import ConfigError, FormatError
from dataqual.imageset import MISSING_LABEL, ImageSource
from dataqual.ingest.csv import CsvSource
from dataqual.ingest.images import ImageFolderSource
from dataqual.ingest.npz import NpzSource
from dataqual.ingest.parquet import ParquetSource
from dataqual.ingest.sources import detect_format, open_source
from dataqual.store.schema import batch_to_table

ROWS = 16


@pytest.fixture
def data(fmt: SimpleNamespace) -> dict:
    return fmt.random_data(seed=1)


@pytest.fixture
def idx(tmp_path: Path, fmt: SimpleNamespace, data: dict) -> dict:
    return fmt.idx_stream(fmt.write_idx(tmp_path / "idx", data), ROWS)


def _check(source: ImageSource, fmt: SimpleNamespace, idx: dict, ids: bool = True) -> None:
    assert source.shape == (28, 28)
    fmt.assert_same_stream(fmt.read_all(source, ROWS), idx, ids=ids)


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("channel", [False, True])
def test_npz_matches_idx(tmp_path, fmt, data, idx, compressed, channel) -> None:
    path = fmt.write_npz(tmp_path / "mnist.npz", data, compressed=compressed, channel=channel)
    assert detect_format(path) == "npz"
    source = open_source(path)
    assert isinstance(source, NpzSource)
    assert [(s.name, s.declared_rows) for s in source.splits()] == [("train", 45), ("test", 13)]
    _check(source, fmt, idx)


@pytest.mark.parametrize("header", [None, "pixel", "rowcol"])
@pytest.mark.parametrize("gz", [False, True])
def test_csv_folder_matches_idx(tmp_path, fmt, data, idx, header, gz) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    ext = ".csv.gz" if gz else ".csv"
    for split, (x, y) in data.items():
        fmt.write_csv(folder / f"mnist_{split}{ext}", x, y, header=header, gz=gz)
    assert detect_format(folder) == "csv"
    source = open_source(folder)
    assert isinstance(source, CsvSource)
    _check(source, fmt, idx)
    for split in ("train", "test"):
        got = fmt.joined(source.iter_batches(split, ROWS))
        assert got.defects["missing_pixels"].sum() == got.defects["pixels_out_of_range"].sum() == 0
        assert np.array_equal(got.raw_min, got.images.min(axis=(1, 2)))
        assert np.array_equal(got.raw_max, got.images.max(axis=(1, 2)))
        assert np.array_equal(source.labels(split), got.labels)


def test_csv_single_file_and_shuffled_header(tmp_path, fmt, data, idx) -> None:
    x, y = data["test"]
    table = fmt.csv_table(x, y, "rowcol")
    order = np.random.default_rng(0).permutation(table.num_columns)  # columns in any order
    path = tmp_path / "digits_test.csv.gz"
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(table.select([int(i) for i in order]), sink)
    path.write_bytes(gzip.compress(sink.getvalue().to_pybytes()))
    assert detect_format(path) == "csv"
    source = open_source(path)
    assert [s.name for s in source.splits()] == ["test"]
    fmt.assert_same_stream(fmt.read_all(source, ROWS), {"test": idx["test"]})


def test_csv_header_without_label_column(tmp_path, fmt, data) -> None:
    x, _ = data["test"]
    source = open_source(fmt.write_csv(tmp_path / "test.csv", x, None, header="pixel"))
    got = fmt.joined(source.iter_batches("test"))
    assert got.images.tobytes() == x.tobytes()
    assert (got.labels == MISSING_LABEL).all()


@pytest.mark.parametrize("layout", ["split", "class"])
def test_image_folder_matches_idx(tmp_path, fmt, data, layout) -> None:
    root = fmt.write_images(tmp_path / "imgs", data, layout=layout)
    assert detect_format(root) == "images"
    source = open_source(root)
    assert isinstance(source, ImageFolderSource)
    assert source.shape == (28, 28)
    splits = ["train", "test"] if layout == "split" else ["train"]
    assert [s.name for s in source.splits()] == splits
    for split in splits:
        x, y = data[split]
        order = fmt.folder_order(data, split)
        got = fmt.joined(source.iter_batches(split, ROWS))
        assert got.images.tobytes() == x[order].tobytes()
        assert np.array_equal(got.labels, y[order])
        want_ids = [f"{split}/{y[i]}/{i}.png" for i in order]
        assert got.ids.tolist() == want_ids
        assert np.array_equal(got.positions, np.arange(len(y)))
        assert all(not v.any() for v in got.defects.values())
        assert np.array_equal(source.labels(split), got.labels)


def test_jpeg_folder_decodes_to_shape(tmp_path, fmt, data) -> None:
    x, y = data["train"]
    for i in range(5):
        d = tmp_path / "j" / str(int(y[i]))
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.jpg").write_bytes(fmt.png_bytes(x[i], fmt="JPEG"))
    source = open_source(tmp_path / "j")
    got = fmt.joined(source.iter_batches("train"))
    assert got.images.shape == (5, 28, 28)
    assert got.defects["unreadable"].sum() == 0
    assert got.defects["wrong_mode"].sum() == 0


def test_non_integer_class_names_map_to_sorted_index(tmp_path, fmt, data) -> None:
    x, _ = data["train"]
    for i, name in enumerate(["dog", "cat", "emu", "cat"]):
        d = tmp_path / "animals" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.png").write_bytes(fmt.png_bytes(x[i]))
    source = ImageFolderSource(tmp_path / "animals")
    assert source.class_names == {"cat": 0, "dog": 1, "emu": 2}
    got = fmt.joined(source.iter_batches("train"))
    assert got.labels.tolist() == [0, 0, 1, 2]
    assert got.ids.tolist() == [
        "train/cat/1.png",
        "train/cat/3.png",
        "train/dog/0.png",
        "train/emu/2.png",
    ]


def test_dataqual_shards_round_trip(tmp_path, fmt, data, idx) -> None:
    shards = fmt.write_shards(tmp_path / "shards", open_source(tmp_path / "idx"), rows=10)
    assert detect_format(shards) == "parquet"
    source = open_source(shards)
    assert isinstance(source, ParquetSource)
    assert [(s.name, s.declared_rows) for s in source.splits()] == [("train", 45), ("test", 13)]
    _check(source, fmt, idx)


def test_single_shard_file_with_both_splits(tmp_path, fmt, data, idx) -> None:
    tables = [batch_to_table(b) for split in ("test", "train") for b in idx[split]]
    path = tmp_path / "all.parquet"
    pq.write_table(pa.concat_tables(tables), path, row_group_size=7)
    assert detect_format(path) == "parquet"
    source = open_source(path)
    assert [(s.name, s.declared_rows) for s in source.splits()] == [("train", 45), ("test", 13)]
    _check(source, fmt, idx)


@pytest.mark.parametrize(
    "kind", ["fixed", "list", "list_int64", "fixed_list", "nested", "png", "hf"]
)
def test_generic_parquet_matches_idx(tmp_path, fmt, data, idx, kind) -> None:
    folder = tmp_path / "hf"
    folder.mkdir()
    for split, (x, y) in data.items():
        pq.write_table(fmt.generic_table(x, y, kind), folder / f"{split}-00000-of-00001.parquet")
    source = open_source(folder)
    assert [s.name for s in source.splits()] == ["train", "test"]
    _check(source, fmt, idx)


def test_generic_parquet_custom_columns_and_split_column(tmp_path, fmt, data, idx) -> None:
    tables = [fmt.generic_table(x, y, "list", split=s) for s, (x, y) in data.items()]
    table = pa.concat_tables(tables).rename_columns(["pix", "kind", "part"])
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    with pytest.raises(Exception, match="no label column"):
        open_source(path)
    source = open_source(path, label_column="kind", image_column="pix", split_column="part")
    _check(source, fmt, idx)


def test_csv_and_parquet_share_the_label_column_names(tmp_path, fmt, data, idx) -> None:
    """``digit`` names the label in a CSV header and in a Parquet table alike."""
    x, y = data["train"]
    csv_path = fmt.write_csv(tmp_path / "train.csv", x, y, header="pixel")
    csv_path.write_text(csv_path.read_text().replace("label,", "digit,", 1))
    assert np.array_equal(open_source(csv_path).labels("train"), y)
    table = fmt.generic_table(x, y, "list").rename_columns(["image", "Digit"])
    pq.write_table(table, tmp_path / "train.parquet")
    assert np.array_equal(open_source(tmp_path / "train.parquet").labels("train"), y)


def test_open_source_rejects_options_of_other_formats(tmp_path, fmt, data) -> None:
    path = fmt.write_npz(tmp_path / "m.npz", data)
    with pytest.raises(ConfigError, match="label_column"):
        open_source(path, label_column="y")
    with pytest.raises(ConfigError, match="unknown format"):
        open_source(path, format="tfrecord")


def test_shape_option_reads_non_square_csv(tmp_path, fmt) -> None:
    data = fmt.random_data(seed=3, sizes={"train": 9}, shape=(4, 6))
    x, y = data["train"]
    path = fmt.write_csv(tmp_path / "wide.csv", x, y)
    with pytest.raises(Exception, match="not a square"):
        open_source(path)
    got = fmt.joined(open_source(path, shape=(4, 6)).iter_batches("train"))
    assert got.images.tobytes() == x.tobytes()


def test_npz_fortran_order_and_column_labels(tmp_path, fmt, data, idx) -> None:
    arrays = {}
    for split, (x, y) in data.items():
        arrays[f"x_{split}"] = np.asfortranarray(x)  # cannot be streamed in rows: refused
        arrays[f"y_{split}"] = np.asfortranarray(y.astype(np.int64)[:, None])  # fine
    np.savez(tmp_path / "f.npz", **arrays)
    with pytest.raises(FormatError, match="Fortran") as info:
        open_source(tmp_path / "f.npz")
    assert "ascontiguousarray" in str(info.value) and "f.npz" in str(info.value)
    arrays = {k: v if k.startswith("y") else np.ascontiguousarray(v) for k, v in arrays.items()}
    np.savez(tmp_path / "c.npz", **arrays)
    _check(open_source(tmp_path / "c.npz"), fmt, idx)
