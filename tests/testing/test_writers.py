"""Every writer of :mod:`dataqual.testing` is read back by ``open_source`` with exactly the
images and labels it was given."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dataqual.ingest import open_source
from dataqual.testing import (
    IMAGE_KINDS,
    Data,
    folder_order,
    gzip_bytes,
    idx_bytes,
    random_data,
    write_csv_dataset,
    write_idx_dataset,
    write_idx_file,
    write_images,
    write_npz,
    write_parquet_dataset,
    write_shards,
)

DATA = random_data(seed=3, sizes={"train": 9, "test": 4}, shape=(6, 6))
_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def read_back(path: Path, **options: object) -> dict[str, tuple[np.ndarray, np.ndarray, list]]:
    """split -> (images, labels, ids) as ``open_source`` streams them."""
    source = open_source(path, **options)
    out = {}
    for info in source.splits():
        batches = list(source.iter_batches(info.name, 5))
        out[info.name] = (
            np.concatenate([b.images for b in batches]),
            np.concatenate([b.labels for b in batches]),
            [i for b in batches for i in b.ids.tolist()],
        )
    return out


def assert_same(got: dict, want: Data, order: dict[str, np.ndarray] | None = None) -> None:
    assert list(got) == list(want)
    for split, (x, y) in want.items():
        rows = (order or {}).get(split, np.arange(len(y)))
        images, labels, _ = got[split]
        assert images.dtype == np.uint8
        assert images.tobytes() == np.asarray(x, np.uint8)[rows].tobytes(), split
        assert labels.tolist() == np.asarray(y)[rows].astype(np.int64).tolist(), split


def _dataset(max_side: int = 9, square: bool = False) -> st.SearchStrategy[Data]:
    """One or two splits of uint8 images of one shape and labels 0..255."""

    @st.composite
    def build(draw: st.DrawFn) -> Data:
        h = draw(st.integers(1, max_side))
        w = h if square else draw(st.integers(1, max_side))
        out: Data = {}
        for split in draw(st.sampled_from([["train"], ["train", "test"]])):
            n = draw(st.integers(1, 6))
            x = draw(arrays(np.uint8, (n, h, w)))
            out[split] = (x, draw(arrays(np.uint8, (n,))))
        return out

    return build()


@_SETTINGS
@given(data=_dataset(), gz=st.booleans())
def test_idx_round_trip(tmp_path_factory: pytest.TempPathFactory, data: Data, gz: bool) -> None:
    folder = write_idx_dataset(tmp_path_factory.mktemp("idx"), data, gz=gz)
    assert all(p.name.endswith(".gz") == gz for p in folder.iterdir())
    assert_same(read_back(folder), data)


@_SETTINGS
@given(data=_dataset(square=True), header=st.sampled_from([None, "pixel"]), gz=st.booleans())
def test_csv_round_trip_square(
    tmp_path_factory: pytest.TempPathFactory, data: Data, header: str | None, gz: bool
) -> None:
    folder = write_csv_dataset(tmp_path_factory.mktemp("csv"), data, header=header, gz=gz)
    assert_same(read_back(folder), data)


@_SETTINGS
@given(data=_dataset(), gz=st.booleans())
def test_csv_round_trip_rowcol(
    tmp_path_factory: pytest.TempPathFactory, data: Data, gz: bool
) -> None:
    """``1x1..HxW`` headers carry the shape, so images need not be square."""
    folder = write_csv_dataset(tmp_path_factory.mktemp("csv"), data, header="rowcol", gz=gz)
    assert_same(read_back(folder), data)


def test_csv_writes_string_cells_verbatim(tmp_path: Path) -> None:
    cells = np.array([[["1", "300"], ["", "2.5"]]], dtype=object)
    folder = write_csv_dataset(tmp_path, {"train": (cells, np.array([4]))})
    assert (folder / "train.csv").read_text() == "4,1,300,,2.5\n"
    batch = next(open_source(folder).iter_batches("train"))
    assert batch.images.tolist() == [[[1, 255], [0, 2]]]
    assert batch.defects["missing_pixels"].tolist() == [1]


@pytest.mark.parametrize(("compressed", "channel"), [(False, False), (True, False), (True, True)])
def test_npz_round_trip(tmp_path: Path, compressed: bool, channel: bool) -> None:
    path = write_npz(tmp_path / "d.npz", DATA, compressed=compressed, channel=channel)
    with np.load(path, allow_pickle=False) as archive:
        assert archive["x_train"].ndim == (4 if channel else 3)
    assert_same(read_back(path), DATA)


def test_npz_refuses_object_arrays(tmp_path: Path) -> None:
    x = np.empty((1, 2, 2), dtype=object)
    with pytest.raises(TypeError, match="object array"):
        write_npz(tmp_path / "d.npz", {"train": (x, np.zeros(1, np.uint8))})
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize("layout", ["split", "class"])
def test_image_tree_round_trip(tmp_path: Path, layout: str) -> None:
    root = write_images(tmp_path / "png", DATA, layout=layout)  # type: ignore[arg-type]
    want = DATA if layout == "split" else {"train": DATA["train"]}
    assert (root / "train").is_dir() == (layout == "split")
    order = {s: folder_order(want, s) for s in want}
    got = read_back(root)
    assert_same(got, want, order)
    first = int(order["train"][0])
    assert got["train"][2][0] == f"train/{DATA['train'][1][first]}/{first}.png"


@pytest.mark.parametrize("kind", sorted(IMAGE_KINDS))
@pytest.mark.parametrize("layout", ["files", "dirs", "column"])
def test_parquet_round_trip(tmp_path: Path, kind: str, layout: str) -> None:
    path = tmp_path / ("d.parquet" if layout == "column" else "pq")
    write_parquet_dataset(path, DATA, kind=kind, layout=layout)  # type: ignore[arg-type]
    assert_same(read_back(path), DATA)


def test_shards_round_trip_ids(tmp_path: Path) -> None:
    source = open_source(write_idx_dataset(tmp_path / "idx", DATA))
    shards = write_shards(tmp_path / "shards", source, rows=4)
    assert (shards / "manifest.json").is_file()
    assert sorted(p.name for p in (shards / "train").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    got = read_back(shards)
    assert_same(got, DATA)
    assert got["test"][2] == [f"test/{i}" for i in range(4)]


def test_idx_file_bytes_and_gzip_header(tmp_path: Path) -> None:
    x = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    raw = idx_bytes(x)
    assert raw == bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5])
    assert idx_bytes(x.astype(">i2"))[2] == 0x0B
    plain = write_idx_file(tmp_path / "a-ubyte.gz", x, header_name=False)
    named = write_idx_file(tmp_path / "b-ubyte.gz", x, header_name=True)
    assert gzip.decompress(plain.read_bytes()) == gzip.decompress(named.read_bytes()) == raw
    assert plain.read_bytes()[3] == 0  # no FNAME flag
    assert named.read_bytes()[3] == 8 and b"b-ubyte\x00" in named.read_bytes()[:20]
    assert gzip_bytes(raw) == gzip_bytes(raw)  # mtime 0: reproducible


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 3), np.uint8), np.zeros(2), r"\(n, H, W\)"),
        (np.full((1, 2, 2), 256), np.zeros(1), "0..255"),
        (np.zeros((1, 2, 2), np.float32), np.zeros(1), "dtype float32"),
        (np.zeros((2, 2, 2), np.uint8), np.zeros(3), r"\(2,\)"),
        (np.zeros((1, 2, 2), np.uint8), np.array([-1]), "0..255"),
    ],
)
def test_writers_refuse_what_a_reader_cannot_hold(
    tmp_path: Path, images: np.ndarray, labels: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_idx_dataset(tmp_path, {"train": (images, labels)})
