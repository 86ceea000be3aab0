"""The decompression-bomb guard (issue 8): a compressed source expanding to more than
``max(EXPANSION_FLOOR_BYTES, max_expansion * bytes on disk)`` is refused from its headers,
fast, with a SourceError naming the file (and array), the sizes, the ratio and the hint.

Large inputs are written in pieces (zip / gzip / Parquet streaming), so no test holds the
data it declares.
"""

from __future__ import annotations

import gzip
import io
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipelines.cli import main

from dataqual.errors import SourceError
from dataqual.imageset import DEFAULT_MAX_EXPANSION, EXPANSION_FLOOR_BYTES
from dataqual.ingest.csv import CsvSource
from dataqual.ingest.limits import EXPANSION_HINT, check_expansion, expansion_limit
from dataqual.ingest.npz import NpzSource
from dataqual.ingest.parquet import ParquetSource
from dataqual.ingest.sources import open_source

from .writers import MNIST

_PIECE = 8 << 20


def _zeros(nbytes: int) -> Iterator[bytes]:
    block = bytes(_PIECE)
    for start in range(0, nbytes, _PIECE):
        yield block[: min(_PIECE, nbytes - start)]


def _npy_member(
    zf: zipfile.ZipFile, key: str, shape: tuple[int, ...], pieces: Iterator[bytes]
) -> None:
    head = io.BytesIO()
    npformat.write_array_header_1_0(head, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
        f.write(head.getvalue())
        for piece in pieces:
            f.write(piece)


def _npz_zero_images(path: Path, n: int) -> Path:
    """A deflated npz of ``n`` all-zero 28x28 train images (and 100 test ones)."""
    labels = (np.arange(n) % 10).astype(np.uint8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        _npy_member(zf, "x_train", (n, 28, 28), _zeros(n * 784))
        _npy_member(zf, "y_train", (n,), iter([labels.tobytes()]))
        _npy_member(zf, "x_test", (100, 28, 28), _zeros(100 * 784))
        _npy_member(zf, "y_test", (100,), iter([labels[:100].tobytes()]))
    return path


@pytest.fixture(scope="module")
def bomb_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Issue 8's case: 1,000,000 blank images, under 1 MB on disk, 784 MB expanded."""
    return _npz_zero_images(tmp_path_factory.mktemp("bomb") / "zeros.npz", 1_000_000)


def _assert_refusal(exc: SourceError, path: Path, *needles: str) -> None:
    text = str(exc)
    assert exc.path == str(path)
    assert "bytes on disk" in text and "limit of 16x" in text
    assert EXPANSION_HINT in text
    for needle in needles:
        assert needle in text


def test_limit_is_the_ratio_past_the_floor() -> None:
    assert expansion_limit(1000, 16.0) == EXPANSION_FLOOR_BYTES
    assert expansion_limit(10 << 20, 16.0) == 160 << 20
    check_expansion("f", "it", 160 << 20, 10 << 20, 16.0)  # exactly at the limit: accepted
    on_disk = r"167,772,162 bytes from 10,485,760 bytes on disk \(16.0x\)"
    with pytest.raises(SourceError, match=on_disk):
        check_expansion("f", "it", (160 << 20) + 2, 10 << 20, 16.0)
    check_expansion("f", "it", EXPANSION_FLOOR_BYTES, 1, 16.0)  # under the floor: any ratio


def test_million_blank_images_npz_is_refused_fast_at_open(bomb_npz: Path) -> None:
    assert bomb_npz.stat().st_size < 2 << 20
    started = time.perf_counter()
    with pytest.raises(SourceError) as info:
        open_source(bomb_npz)
    assert time.perf_counter() - started < 2.0
    _assert_refusal(info.value, bomb_npz, "'x_train'", "784,000,128 bytes")
    ratio = 784_000_128 / zipfile.ZipFile(bomb_npz).getinfo("x_train.npy").compress_size
    assert f"({ratio:,.1f}x)" in str(info.value)


def test_million_blank_images_npz_exits_2_in_the_cli(
    bomb_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "--prefect-home",
            str(tmp_path / "prefect"),
            "run",
            "--source",
            str(bomb_npz),
            "--out",
            str(out),
            "--no-train",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "zeros.npz" in err and "'x_train'" in err and "--max-expansion" in err
    assert not out.exists()


def test_raised_max_expansion_lets_the_npz_open(bomb_npz: Path) -> None:
    source = open_source(bomb_npz, max_expansion=2000)
    assert source.shape == (28, 28)
    assert {s.name: s.declared_rows for s in source.splits()} == {"train": 1_000_000, "test": 100}


def test_npz_arrays_under_the_floor_add_up(tmp_path: Path) -> None:
    """Each array under 64 MiB, all of them together over it: the archive is refused."""
    n = 50_000  # 39 MB per x array, 78 MB in all
    path = tmp_path / "split.npz"
    labels = np.zeros(n, np.uint8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for split in ("train", "test"):
            _npy_member(zf, f"x_{split}", (n, 28, 28), _zeros(n * 784))
            _npy_member(zf, f"y_{split}", (n,), iter([labels.tobytes()]))
    with pytest.raises(SourceError) as info:
        NpzSource(path)
    _assert_refusal(info.value, path, "its 4 arrays")
    assert NpzSource(path, max_expansion=5000).shape == (28, 28)


def _gzip_idx(folder: Path, n: int) -> Path:
    folder.mkdir()
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28))
        for piece in _zeros(n * 784):
            f.write(piece)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(n))
    return folder


def test_gzip_idx_of_blank_images_is_refused(tmp_path: Path) -> None:
    folder = _gzip_idx(tmp_path / "idx", 100_000)  # 78.4 MB expanded, ~1000x
    images = folder / "train-images-idx3-ubyte.gz"
    started = time.perf_counter()
    with pytest.raises(SourceError) as info:
        open_source(folder)
    assert time.perf_counter() - started < 2.0
    _assert_refusal(info.value, images, "100000 records", "78,400,016 bytes")
    assert open_source(folder, max_expansion=5000).shape == (28, 28)


_ZERO_ROW = b"0," * 784 + b"7\n"  # 785 cells; a bomb's rows are all alike


def _gzip_csv(path: Path, rows: int, tail_rows: int = 0) -> Path:
    """``rows`` blank rows in one gzip member, then (``tail_rows``) a second, small member:
    the ISIZE trailer then tells the size of the last member only."""
    chunk = _ZERO_ROW * 4096
    with path.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as f:
            for start in range(0, rows, 4096):
                f.write(chunk[: min(4096, rows - start) * len(_ZERO_ROW)])
        if tail_rows:
            raw.write(gzip.compress(_ZERO_ROW * tail_rows))
    return path


def test_gzip_csv_bomb_is_refused_at_open(tmp_path: Path) -> None:
    path = _gzip_csv(tmp_path / "train.csv.gz", 60_000)  # 94 MB of text
    with pytest.raises(SourceError) as info:
        open_source(path)
    _assert_refusal(info.value, path, "gzip trailer")


def test_gzip_csv_bomb_hidden_by_a_small_last_member_is_stopped_while_streaming(
    tmp_path: Path,
) -> None:
    path = _gzip_csv(tmp_path / "train.csv.gz", 60_000, tail_rows=3)
    source = CsvSource.open(path)  # the trailer under-reports: accepted at open
    read = 0
    with pytest.raises(SourceError) as info:
        for batch in source.iter_batches("train", 1000):
            read += len(batch.images)
    _assert_refusal(info.value, path, "read so far", "67,108,865 bytes")  # stopped 1 B past it
    assert read * len(_ZERO_ROW) < EXPANSION_FLOOR_BYTES


def _blank_parquet(path: Path, rows: int) -> Path:
    schema = pa.schema([("label", pa.int64()), ("image", pa.binary(784))])
    block = 10_000
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, block):
            k = min(block, rows - start)
            images = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(784), k, [None, pa.py_buffer(bytes(k * 784))]
            )
            w.write_table(
                pa.table({"label": pa.array(np.zeros(k, np.int64)), "image": images}, schema=schema)
            )
    return path


def test_parquet_declaring_many_rows_is_refused(tmp_path: Path) -> None:
    path = _blank_parquet(tmp_path / "train.parquet", 100_000)  # 78.4 MB of pixels
    assert path.stat().st_size * 16 < 100_000 * 784
    with pytest.raises(SourceError) as info:
        open_source(path)
    _assert_refusal(info.value, path, "100,000 rows of 28x28 images")
    assert ParquetSource.open(path, max_expansion=5000).shape == (28, 28)


def test_parquet_files_under_the_floor_add_up(tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    for name in ("train", "test"):
        _blank_parquet(folder / f"{name}.parquet", 50_000)  # 39 MB each, 78 MB together
    with pytest.raises(SourceError) as info:
        open_source(folder)
    _assert_refusal(info.value, folder, "its 2 files of 100,000 rows")


def test_small_blank_dataset_under_the_floor_is_read(tmp_path: Path) -> None:
    path = _npz_zero_images(tmp_path / "blank.npz", 20_000)  # ~1000x, but 15.7 MB
    source = open_source(path)
    got = sum(len(b.images) for b in source.iter_batches("train", 5000))
    assert got == 20_000
    idx = open_source(_gzip_idx(tmp_path / "idx", 20_000))
    assert sum(len(b.images) for b in idx.iter_batches("train", 5000)) == 20_000


def test_real_mnist_is_accepted() -> None:
    if not (MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found in {MNIST}")
    source = open_source(MNIST)
    assert {s.name: s.declared_rows for s in source.splits()} == {"train": 60_000, "test": 10_000}
    size = (MNIST / "train-images-idx3-ubyte.gz").stat().st_size
    assert 47_040_016 / size < DEFAULT_MAX_EXPANSION  # 4.7x: far from the limit
