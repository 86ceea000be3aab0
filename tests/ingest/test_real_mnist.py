"""The first 5,000 train + 1,000 test images of the real MNIST, converted to every format,
stream byte-identically to the IDX reader (same ids, labels, images and batch cuts)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from dataqual.ingest.sources import detect_format, open_source

pytestmark = pytest.mark.slow
ROWS = 2048


@pytest.fixture
def idx(tmp_path, fmt, mnist_head):
    folder = fmt.write_idx(tmp_path / "idx", mnist_head)
    stream = fmt.idx_stream(folder, ROWS)
    for split, (x, y) in mnist_head.items():  # our IDX copy is the real files' head
        got = fmt.joined(stream[split])
        assert got.images.tobytes() == x.tobytes() and (got.labels == y).all()
    return stream


def _same(path, fmt, idx, want_format: str, ids: bool = True) -> None:
    assert detect_format(path) == want_format
    source = open_source(path)
    assert source.shape == (28, 28)
    fmt.assert_same_stream(fmt.read_all(source, ROWS), idx, ids=ids)


def test_real_npz(tmp_path, fmt, mnist_head, idx) -> None:
    _same(fmt.write_npz(tmp_path / "mnist.npz", mnist_head, compressed=True), fmt, idx, "npz")


@pytest.mark.parametrize("header", [None, "rowcol"])
def test_real_csv(tmp_path, fmt, mnist_head, idx, header) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    for split, (x, y) in mnist_head.items():
        fmt.write_csv(folder / f"mnist_{split}.csv.gz", x, y, header=header, gz=True)
    _same(folder, fmt, idx, "csv")


def test_real_shards(tmp_path, fmt, idx) -> None:
    shards = fmt.write_shards(tmp_path / "shards", open_source(tmp_path / "idx"), rows=1000)
    _same(shards, fmt, idx, "parquet")


def test_real_generic_png_parquet(tmp_path, fmt, mnist_head, idx) -> None:
    folder = tmp_path / "hf"
    folder.mkdir()
    for split, (x, y) in mnist_head.items():
        pq.write_table(fmt.generic_table(x, y, "hf"), folder / f"{split}-00000-of-00001.parquet")
    _same(folder, fmt, idx, "parquet")


def test_real_image_folder(tmp_path, fmt, mnist_head) -> None:
    root = fmt.write_images(tmp_path / "png", mnist_head)
    assert detect_format(root) == "images"
    source = open_source(root)
    assert source.shape == (28, 28)
    for split, (x, y) in mnist_head.items():
        order = fmt.folder_order(mnist_head, split)
        got = fmt.joined(source.iter_batches(split, ROWS))
        assert got.images.tobytes() == x[order].tobytes()
        assert (got.labels == y[order]).all()
        assert got.ids.tolist() == [f"{split}/{y[i]}/{i}.png" for i in order]
        assert not any(v.any() for v in got.defects.values())
