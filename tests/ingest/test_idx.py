"""The IDX reader: headers, file discovery, streaming in chunks and every way a file can lie.

Datasets are written by ``tests.helpers`` in ``tmp_path``; the expected values come from the
arrays that were written, never from the reader. (The cross-format hostile-input corpus lives
in ``test_hostile.py``; this file checks the IDX reader's own contract in detail.)
"""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import ImageBatch
from dataqual.ingest.idx import IdxSource, find_idx_pairs, read_idx_header
from tests.helpers import (
    idx_bytes,
    idx_header,
    idx_names,
    make_idx_dataset,
    random_images,
    write_idx,
)

SHAPE = (5, 7)  # deliberately not square and not 28x28
TRAIN_X = random_images(10, SHAPE, seed=1)
TRAIN_Y = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], np.uint8)
TEST_X = random_images(4, SHAPE, seed=2)
TEST_Y = np.array([2, 7, 1, 8], np.uint8)


def read_split(source: IdxSource, split: str, rows: int) -> list[ImageBatch]:
    return list(source.iter_batches(split, rows))


def joined_images(batches: list[ImageBatch]) -> np.ndarray:
    return np.concatenate([b.images for b in batches])


@pytest.fixture(params=[True, False], ids=["gz", "raw"])
def gz(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.fixture
def dataset(tmp_path: Path, gz: bool) -> Path:
    return make_idx_dataset(tmp_path / "ds", TRAIN_X, TRAIN_Y, TEST_X, TEST_Y, gz=gz)


# ------------------------------------------------------------------------ headers


def test_header_of_images_and_labels(dataset: Path, gz: bool) -> None:
    img_name, lab_name = idx_names("train", gz)
    img = read_idx_header(dataset / img_name, expected_ndim=3)
    assert img.dims == (10, 5, 7)
    assert img.count == 10
    assert img.record_shape == (5, 7)
    assert img.record_bytes == 35
    assert img.header_bytes == 4 + 3 * 4
    assert img.compressed is gz
    lab = read_idx_header(dataset / lab_name, expected_ndim=1)
    assert (lab.dims, lab.record_shape, lab.record_bytes, lab.header_bytes) == ((10,), (), 1, 8)


def test_header_with_wrong_number_of_dimensions(dataset: Path, gz: bool) -> None:
    _, lab_name = idx_names("train", gz)
    with pytest.raises(FormatError, match="1 dimensions, expected 3") as info:
        read_idx_header(dataset / lab_name, expected_ndim=3)
    assert info.value.path == str(dataset / lab_name)


# ------------------------------------------------------------------------ streaming


def test_reads_gz_and_raw_non_square_images_exactly(dataset: Path) -> None:
    source = IdxSource.from_folder(dataset)
    assert source.shape == SHAPE
    assert [(s.name, s.declared_rows) for s in source.splits()] == [("train", 10), ("test", 4)]
    for split, x, y in (("train", TRAIN_X, TRAIN_Y), ("test", TEST_X, TEST_Y)):
        (batch,) = read_split(source, split, rows=100)
        assert batch.split == split
        assert batch.images.dtype == np.uint8 and batch.images.shape == (len(x), 5, 7)
        assert np.array_equal(batch.images, x)
        assert batch.labels.dtype == np.int64
        assert batch.labels.tolist() == y.tolist()
        assert batch.positions.tolist() == list(range(len(x)))
        assert batch.ids.tolist() == [f"{split}/{i}" for i in range(len(x))]
        assert dict(batch.defects) == {}
        assert batch.raw_min is None and batch.raw_max is None


def test_chunks_of_three_over_ten_records(dataset: Path) -> None:
    source = IdxSource.from_folder(dataset)
    batches = read_split(source, "train", rows=3)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [b.positions.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [b.ids.tolist() for b in batches][-1] == ["train/9"]
    assert batches[1].ids.tolist() == ["train/3", "train/4", "train/5"]
    (whole,) = read_split(source, "train", rows=10)
    assert joined_images(batches).tobytes() == whole.images.tobytes() == TRAIN_X.tobytes()
    assert np.concatenate([b.labels for b in batches]).tolist() == TRAIN_Y.tolist()


def test_stream_is_re_iterable(dataset: Path) -> None:
    source = IdxSource.from_folder(dataset)
    first = joined_images(read_split(source, "test", rows=3))
    second = joined_images(read_split(source, "test", rows=3))
    assert first.tobytes() == second.tobytes() == TEST_X.tobytes()


def test_zero_records(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, np.zeros((0, 4, 4), np.uint8), np.zeros(0, np.uint8))
    source = IdxSource.from_folder(folder)
    assert source.shape == (4, 4)
    assert [(s.name, s.declared_rows) for s in source.splits()] == [("train", 0)]
    assert read_split(source, "train", rows=3) == []


def test_files_and_description(dataset: Path, gz: bool) -> None:
    source = IdxSource.from_folder(dataset)
    names = sorted(p.name for p in source.files())
    assert names == sorted([*idx_names("train", gz), *idx_names("test", gz)])
    assert source.description == str(dataset)


def test_multi_member_gzip_with_data_after_the_records(tmp_path: Path) -> None:
    """Extra data in a second gzip member whose ISIZE equals the declared size passes the
    trailer check; the streaming read must still notice it after the last record."""
    raw = idx_bytes(TRAIN_X)
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y)
    img = folder / "train-images-idx3-ubyte.gz"
    img.write_bytes(gzip.compress(raw, mtime=0) + gzip.compress(b"\x01" * len(raw), mtime=0))
    source = IdxSource.from_folder(folder)
    with pytest.raises(FormatError, match="data continues after the 10 records") as info:
        read_split(source, "train", rows=4)
    assert info.value.path == str(img)


# ------------------------------------------------------------------------ discovery


@pytest.mark.parametrize(
    ("prefix", "split"),
    [
        ("train", "train"),
        ("t10k", "test"),
        ("test", "test"),
        ("emnist-digits-train", "train"),
        ("emnist-digits-test", "test"),
        ("fashion_val", "val"),
        ("extra", "extra"),
    ],
)
def test_split_names_from_file_prefixes(tmp_path: Path, prefix: str, split: str) -> None:
    write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", TRAIN_X[:2])
    write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", TRAIN_Y[:2])
    (tmp_path / "README.txt").write_text("not data")
    pairs = find_idx_pairs(tmp_path)
    images = tmp_path / f"{prefix}-images-idx3-ubyte.gz"
    labels = tmp_path / f"{prefix}-labels-idx1-ubyte.gz"
    assert pairs == {split: (images, labels)}
    (batch,) = read_split(IdxSource(pairs), split, rows=5)
    assert batch.ids.tolist() == [f"{split}/0", f"{split}/1"]


def test_dotted_names_as_on_some_mirrors(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images.idx3-ubyte", TRAIN_X, gz=False)
    write_idx(tmp_path / "train-labels.idx1-ubyte", TRAIN_Y, gz=False)
    assert list(find_idx_pairs(tmp_path)) == ["train"]


def test_splits_are_ordered_train_test_then_others(tmp_path: Path) -> None:
    for prefix in ("zeta", "t10k", "alpha", "train"):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", TRAIN_X[:1])
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", TRAIN_Y[:1])
    source = IdxSource.from_folder(tmp_path)
    assert [s.name for s in source.splits()] == ["train", "test", "alpha", "zeta"]


def test_gz_and_raw_copies_of_one_split_are_ambiguous(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y, gz=True)
    write_idx(tmp_path / "train-images-idx3-ubyte", TRAIN_X, gz=False)
    with pytest.raises(FormatError, match="several image files for split 'train'"):
        find_idx_pairs(tmp_path)


def test_two_prefixes_mapping_to_one_split(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y)
    write_idx(tmp_path / "emnist-digits-train-images-idx3-ubyte.gz", TRAIN_X)
    write_idx(tmp_path / "emnist-digits-train-labels-idx1-ubyte.gz", TRAIN_Y)
    with pytest.raises(FormatError, match="two sets of files map to split 'train'"):
        find_idx_pairs(tmp_path)


def test_missing_labels_file(tmp_path: Path) -> None:
    img = write_idx(tmp_path / "train-images-idx3-ubyte.gz", TRAIN_X)
    with pytest.raises(SourceError, match="no matching labels file") as info:
        IdxSource.from_folder(tmp_path)
    assert info.value.path == str(img)


def test_labels_path_that_does_not_exist(tmp_path: Path) -> None:
    img = write_idx(tmp_path / "train-images-idx3-ubyte.gz", TRAIN_X)
    missing = tmp_path / "nowhere-labels-idx1-ubyte.gz"
    with pytest.raises(SourceError, match="no such file") as info:
        IdxSource({"train": (img, missing)})
    assert info.value.path == str(missing)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no IDX image/label file pairs"):
        IdxSource.from_folder(tmp_path)


# ------------------------------------------------------------------------ bad files


def test_truncated_raw_file_names_file_and_record(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y, gz=False)
    img = folder / "train-images-idx3-ubyte"
    # Keep the 16-byte header, records 0..5 and 20 of record 6's 35 bytes.
    img.write_bytes(img.read_bytes()[: 16 + 6 * 35 + 20])
    with pytest.raises(TruncatedError) as info:
        IdxSource.from_folder(folder)
    err = info.value
    assert err.path == str(img)
    assert err.record == 6
    assert str(err).startswith(f"{img}, record 6: ")
    assert "holds 246 bytes" in str(err)


def test_truncated_raw_labels_file(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y, gz=False)
    lab = folder / "train-labels-idx1-ubyte"
    lab.write_bytes(lab.read_bytes()[: 8 + 7])
    with pytest.raises(TruncatedError) as info:
        IdxSource.from_folder(folder)
    assert (info.value.path, info.value.record) == (str(lab), 7)


def test_gz_trailer_disagrees_with_header(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y)
    img = folder / "train-images-idx3-ubyte.gz"
    # A complete, valid gzip stream whose IDX header claims 12 records while 10 follow.
    img.write_bytes(gzip.compress(idx_header((12, 5, 7)) + TRAIN_X.tobytes(), mtime=0))
    with pytest.raises(TruncatedError) as info:
        IdxSource.from_folder(folder)
    message = str(info.value)
    assert info.value.path == str(img)
    assert "12 records (436 bytes uncompressed)" in message
    assert "decompresses to 366 bytes" in message  # counted by streaming, every member
    assert info.value.record == 10  # records 0..9 are whole, the 11th is missing


def test_truncated_gz_file_is_rejected_at_open(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y)
    img = folder / "train-images-idx3-ubyte.gz"
    data = img.read_bytes()
    img.write_bytes(data[: len(data) - 9])  # loses the CRC and 1 byte of ISIZE: trailer is wrong
    with pytest.raises(TruncatedError) as info:
        IdxSource.from_folder(folder)
    assert info.value.path == str(img)


@pytest.mark.parametrize("gzipped", [False, True], ids=["raw", "gz"])
def test_header_claiming_a_billion_images_costs_nothing(tmp_path: Path, gzipped: bool) -> None:
    suffix = ".gz" if gzipped else ""
    img = tmp_path / f"train-images-idx3-ubyte{suffix}"
    lab = tmp_path / f"train-labels-idx1-ubyte{suffix}"
    payload = idx_header((10**9, 28, 28)) + bytes(3 * 784)
    img.write_bytes(gzip.compress(payload, mtime=0) if gzipped else payload)
    write_idx(lab, np.zeros(3, np.uint8), gz=gzipped)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TruncatedError, match="1000000000 records") as info:
            IdxSource.from_folder(tmp_path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.path == str(img)
    if not gzipped:
        assert info.value.record == 3  # three whole records are present, the fourth is not
    assert elapsed < 1.0
    assert peak < 1 << 20  # 784 GB declared; under 1 MiB allocated


def test_bad_magic(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y, gz=False)
    img = folder / "train-images-idx3-ubyte"
    img.write_bytes(b"\x01\x02\x08\x03" + img.read_bytes()[4:])
    with pytest.raises(FormatError, match="bad IDX magic number 0x01020803") as info:
        IdxSource.from_folder(folder)
    assert info.value.path == str(img)


def test_gzip_of_text_is_bad_magic(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y)
    lab = folder / "train-labels-idx1-ubyte.gz"
    lab.write_bytes(gzip.compress(b"label\n3\n1\n4\n", mtime=0))
    with pytest.raises(FormatError, match="bad IDX magic") as info:
        IdxSource.from_folder(folder)
    assert info.value.path == str(lab)


@pytest.mark.parametrize(
    ("dtype", "code", "name"),
    [
        (np.int8, 0x09, "byte"),
        (">i2", 0x0B, "short"),
        ("<i4", 0x0C, "int"),
        (">f4", 0x0D, "float"),
        (">f8", 0x0E, "double"),
    ],
)
def test_non_ubyte_values_are_refused(tmp_path: Path, dtype: str, code: int, name: str) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y)
    img = write_idx(folder / "train-images-idx3-ubyte.gz", TRAIN_X.astype(dtype))
    raw = gzip.decompress(img.read_bytes())
    assert raw[2] == code and len(raw) == 16 + TRAIN_X.size * np.dtype(dtype).itemsize
    with pytest.raises(FormatError, match=f"IDX values are {name}, only ubyte") as info:
        IdxSource.from_folder(folder)
    assert info.value.path == str(img)


def test_count_mismatch_between_images_and_labels(tmp_path: Path, gz: bool) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y, gz=gz)
    _, lab_name = idx_names("train", gz)
    write_idx(folder / lab_name, TRAIN_Y[:9], gz=gz)
    with pytest.raises(FormatError, match=f"10 images but {lab_name} holds 9 labels"):
        IdxSource.from_folder(folder)


def test_trailing_bytes_after_the_records(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y, gz=False)
    img = folder / "train-images-idx3-ubyte"
    img.write_bytes(img.read_bytes() + b"\x00\x00")
    with pytest.raises(FormatError, match=r"366 bytes in all\) but the file holds 368") as info:
        IdxSource.from_folder(folder)
    assert not isinstance(info.value, TruncatedError)
    assert info.value.path == str(img)


def test_splits_with_different_shapes(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path, TRAIN_X, TRAIN_Y, random_images(2, (7, 5)), TEST_Y[:2])
    with pytest.raises(FormatError, match=r"different image shapes: \[\(5, 7\), \(7, 5\)\]"):
        IdxSource.from_folder(tmp_path)


def _gzip_with_sync_point(raw: bytes, cut: int) -> tuple[bytearray, int]:
    """A one-member gzip of ``raw`` with a full-flush point after ``cut`` uncompressed bytes.

    A full flush ends with an empty stored block ``00 00 ff ff`` (LEN, NLEN); returns the
    file and the offset of that LEN so a test can corrupt the stream at a known position.
    """
    co = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = co.compress(raw[:cut]) + co.flush(zlib.Z_FULL_FLUSH)
    assert head.endswith(b"\x00\x00\xff\xff")
    return bytearray(head + co.compress(raw[cut:]) + co.flush()), len(head) - 4


def test_corrupt_gzip_stream_mid_file_names_the_record(tmp_path: Path) -> None:
    # Records of 160 000 bytes, more than any read-ahead of gzip's buffered reader (8 KiB on
    # Python 3.11, 128 KiB later), so the stream is decoded up to the corruption only while
    # the chunk that holds it is read.
    shape, rows = (400, 400), 6
    x = random_images(rows, shape, seed=3)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(rows, dtype=np.uint8))
    img = tmp_path / "train-images-idx3-ubyte.gz"
    record_bytes = 400 * 400
    cut = 16 + 4 * record_bytes + 140_000  # inside record 4
    data, at = _gzip_with_sync_point(idx_bytes(x), cut)
    data[at + 2] ^= 0x01  # NLEN no longer complements LEN: "invalid stored block lengths"
    img.write_bytes(bytes(data))
    source = IdxSource.from_folder(tmp_path)  # header and ISIZE trailer are intact
    got = []
    with pytest.raises(TruncatedError, match="compressed stream is corrupt") as info:
        for batch in source.iter_batches("train", rows=1):
            got.append(batch)
    assert info.value.path == str(img)
    assert info.value.record == 4
    assert f"{img}, record 4: " in str(info.value)
    assert isinstance(info.value.__cause__, zlib.error)
    assert joined_images(got).tobytes() == x[:4].tobytes()  # what came before is intact


def test_gz_and_raw_read_the_same(tmp_path: Path) -> None:
    a = IdxSource.from_folder(make_idx_dataset(tmp_path / "a", TRAIN_X, TRAIN_Y, gz=True))
    b = IdxSource.from_folder(make_idx_dataset(tmp_path / "b", TRAIN_X, TRAIN_Y, gz=False))
    ga, gb = read_split(a, "train", 4), read_split(b, "train", 4)
    assert joined_images(ga).tobytes() == joined_images(gb).tobytes()
    assert [x.ids.tolist() for x in ga] == [x.ids.tolist() for x in gb]


# ------------------------------------------------------------------------ real MNIST


def _plain_parse(path: Path, header: int) -> bytes:
    with gzip.open(path) as f:
        return f.read()[header:]


@pytest.mark.slow
def test_real_mnist_streams_the_published_bytes(mnist_dir: Path) -> None:
    source = IdxSource.from_folder(mnist_dir)
    assert source.shape == (28, 28)
    declared = [(s.name, s.declared_rows) for s in source.splits()]
    assert declared == [("train", 60000), ("test", 10000)]
    for split, prefix, count in (("train", "train", 60000), ("test", "t10k", 10000)):
        batches = read_split(source, split, rows=16384)
        assert [len(b) for b in batches] == [16384] * (count // 16384) + [count % 16384]
        images = joined_images(batches)
        labels = np.concatenate([b.labels for b in batches])
        want_images = _plain_parse(mnist_dir / f"{prefix}-images-idx3-ubyte.gz", 16)
        want_labels = _plain_parse(mnist_dir / f"{prefix}-labels-idx1-ubyte.gz", 8)
        assert images.shape == (count, 28, 28)
        assert images.tobytes() == want_images
        assert labels.astype(np.uint8).tobytes() == want_labels
        assert batches[-1].ids[-1] == f"{split}/{count - 1}"
