"""A corpus of malformed inputs across all formats, generated here (no committed blobs).

Each case builds an input in ``tmp_path`` and states the exact outcome: an error of a
given type whose message names the file (and the line or record where there is one),
or a dataset whose defect counters, labels and ids are exactly as expected.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.imageset import MISSING_LABEL, ImageBatch
from dataqual.ingest.sources import open_source
from dataqual.ingest.split import concat_batches

from . import writers as h

RNG = np.random.default_rng(11)
X = RNG.integers(0, 256, (12, 28, 28), dtype=np.uint8)
Y = RNG.integers(0, 10, 12).astype(np.uint8)
DATA = {"train": (X[:8], Y[:8]), "test": (X[8:], Y[8:])}


@dataclass
class Case:
    """``build(tmp) -> path to open``; ``error`` + ``names`` or ``check`` of the result."""

    id: str
    build: Callable[[Path], Path]
    error: type[Exception] | None = None
    names: tuple[str, ...] = ()
    check: Callable[[dict[str, ImageBatch]], None] | None = None
    options: dict = field(default_factory=dict)


def read(path: Path, **options: object) -> dict[str, ImageBatch]:
    source = open_source(path, **options)
    return {s.name: concat_batches(list(source.iter_batches(s.name, 5))) for s in source.splits()}


# ------------------------------------------------------------------------------------ IDX


def idx_folder(
    tmp: Path, images: bytes | None = None, labels: bytes | None = None, gz: bool = False
) -> Path:
    folder = tmp / "idx"
    folder.mkdir()
    x, y = DATA["train"]
    suffix = ".gz" if gz else ""
    img = h.idx_bytes(x) if images is None else images
    lab = h.idx_bytes(y) if labels is None else labels
    (folder / f"train-images-idx3-ubyte{suffix}").write_bytes(gzip.compress(img) if gz else img)
    (folder / "train-labels-idx1-ubyte").write_bytes(lab)
    return folder


def _truncated_gz(tmp: Path) -> Path:
    folder = idx_folder(tmp, gz=True)
    f = folder / "train-images-idx3-ubyte.gz"
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) // 2])
    return folder


def _corrupt_gz_body(tmp: Path) -> Path:
    folder = idx_folder(tmp, gz=True)
    f = folder / "train-images-idx3-ubyte.gz"
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 40] = bytes(40)
    f.write_bytes(bytes(raw))
    return folder


def _header_claims(n: int, gz: bool) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        img = struct.pack(">HBBIII", 0, 8, 3, n, 28, 28) + X[:8].tobytes()
        return idx_folder(
            tmp, images=img, labels=struct.pack(">HBBI", 0, 8, 1, n) + bytes(8), gz=gz
        )

    return build


def _no_labels_file(tmp: Path) -> Path:
    folder = idx_folder(tmp)
    (folder / "train-labels-idx1-ubyte").unlink()
    return folder


IDX_CASES = [
    Case("idx-truncated-gz", _truncated_gz, TruncatedError, ("train-images-idx3-ubyte.gz",)),
    Case(
        "idx-corrupt-gz-body",
        _corrupt_gz_body,
        TruncatedError,
        ("train-images-idx3-ubyte.gz", "corrupt"),
    ),
    Case(
        "idx-bad-magic",
        lambda t: idx_folder(t, images=b"\x12\x34\x08\x03" + bytes(40)),
        FormatError,
        ("train-images-idx3-ubyte", "magic"),
    ),
    Case(
        "idx-float-type",
        lambda t: idx_folder(t, images=b"\x00\x00\x0d\x03" + bytes(40)),
        FormatError,
        ("train-images-idx3-ubyte", "float"),
    ),
    Case(
        "idx-count-mismatch",
        lambda t: idx_folder(t, labels=h.idx_bytes(Y[:7])),
        FormatError,
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "8 images", "7 labels"),
    ),
    Case(
        "idx-header-claims-1e9",
        _header_claims(10**9, gz=False),
        TruncatedError,
        ("train-images-idx3-ubyte", "1000000000 records"),
    ),
    Case(
        "idx-gz-header-claims-1e9",
        _header_claims(10**9, gz=True),
        TruncatedError,
        ("train-images-idx3-ubyte.gz", "1000000000 records"),
    ),
    Case(
        "idx-zero-length",
        lambda t: idx_folder(t, images=b""),
        TruncatedError,
        ("train-images-idx3-ubyte", "empty"),
    ),
    Case(
        "idx-trailing-bytes",
        lambda t: idx_folder(t, images=h.idx_bytes(X[:8]) + b"xx"),
        FormatError,
        ("train-images-idx3-ubyte",),
    ),
    Case(
        "idx-labels-are-3d",
        lambda t: idx_folder(t, labels=h.idx_bytes(X[:8])),
        FormatError,
        ("train-labels-idx1-ubyte", "3 dimensions"),
    ),
    Case(
        "idx-no-labels-file",
        _no_labels_file,
        SourceError,
        ("train-images-idx3-ubyte", "no matching labels file"),
    ),
]

# ------------------------------------------------------------------------------------ CSV


def csv_file(text: str | bytes, name: str = "data.csv", gz: bool = False) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        raw = text.encode() if isinstance(text, str) else text
        path = tmp / name
        path.write_bytes(gzip.compress(raw) if gz else raw)
        return path

    return build


ROW = "7," + ",".join(["0"] * 4)  # 2x2 images with shape=(2, 2)
S22 = {"shape": (2, 2)}


def _check_cell_defects(got: dict[str, ImageBatch]) -> None:
    b = got["train"]
    assert b.labels.tolist() == [5, MISSING_LABEL, MISSING_LABEL, 3, MISSING_LABEL, 4]
    assert b.images.reshape(6, 4).tolist() == [
        [0, 255, 0, 0],
        [1, 0, 255, 2],
        [0, 10, 7, 0],
        [0, 1, 2, 3],
        [0, 0, 0, 0],
        [9, 9, 9, 9],
    ]
    assert b.defects["missing_pixels"].tolist() == [2, 0, 1, 1, 4, 0]
    assert b.defects["pixels_out_of_range"].tolist() == [0, 3, 0, 0, 0, 0]
    assert np.array_equal(b.raw_min, [0, -4, 0, 1, np.nan, 9], equal_nan=True)
    assert np.array_equal(b.raw_max, [255, 300, 10, 3, np.nan, 9], equal_nan=True)
    assert b.ids.tolist() == [f"train/{i}" for i in range(6)]


def _check_nul_cells(got: dict[str, ImageBatch]) -> None:
    b = got["train"]
    assert b.shape == (1, 1) and b.labels.tolist() == [MISSING_LABEL]
    assert b.defects["missing_pixels"].tolist() == [1]


CELLS = (
    "\n".join(
        [
            "5,0,255,,nan",
            "x,1,-4,300,2.5",
            ",abc,1e1, 7 ,0",
            "3.0,inf,1,2,3",
            "3.5,,,,",
            "4,9,9,9,9",
        ]
    )
    + "\n"
)


def _two_train_csvs(tmp: Path) -> Path:
    (tmp / "c").mkdir()
    csv_file(ROW + "\n", "c/train.csv")(tmp)
    csv_file(ROW + "\n", "c/mnist_train.csv")(tmp)
    return tmp / "c"


def _bad_gz_csv(tmp: Path) -> Path:
    raw = gzip.compress(("\n".join([ROW] * 2000) + "\n").encode())
    path = tmp / "train.csv.gz"
    path.write_bytes(raw[: len(raw) // 2])
    return path


CSV_CASES = [
    Case(
        "csv-short-row",
        csv_file("\n".join([ROW, ROW, ROW, "7,0,0"]) + "\n"),
        FormatError,
        ("data.csv", "line 4", "3 columns, expected 5"),
        options=S22,
    ),
    Case(
        "csv-long-row-after-header-and-blank",
        csv_file("label,pixel0,pixel1,pixel2,pixel3\n" + ROW + "\n\n" + ROW + ",1\n"),
        FormatError,
        ("data.csv", "line 4", "6 columns, expected 5"),
    ),
    Case(
        "csv-blank-lines-before-header-count",
        csv_file("\n\r\nlabel,1x1,1x2,2x1,2x2\n" + ROW + "\n\n7,0,0\n" + ROW + "\n"),
        FormatError,
        ("data.csv", "line 6", "3 columns, expected 5"),
    ),
    Case(
        "csv-short-row-with-bad-utf8",
        csv_file(f"{ROW}\n{ROW}\n".encode() + b"7,\xff\n"),
        FormatError,
        ("data.csv", "line 3", "2 columns, expected 5"),
        options=S22,
    ),
    Case(
        "csv-non-utf8",
        csv_file(("\n".join([ROW] * 4) + "\n").encode() + b"7,\xff,0,0,0\n"),
        FormatError,
        ("data.csv", "line 5", "UTF-8"),
        options=S22,
    ),
    Case(
        "csv-non-utf8-header",
        csv_file(b"label,pix\xe9l0\n" + ROW.encode() + b"\n"),
        FormatError,
        ("data.csv", "line 1", "UTF-8"),
    ),
    Case("csv-cells-are-findings", csv_file(CELLS), check=_check_cell_defects, options=S22),
    Case("csv-empty-file", csv_file(b""), TruncatedError, ("data.csv", "empty"), options=S22),
    Case(
        "csv-blank-lines-only",
        csv_file("\n\n\r\n"),
        FormatError,
        ("data.csv", "blank"),
        options={"format": "csv", **S22},
    ),
    Case("csv-not-square", csv_file("1,2,3,4\n"), FormatError, ("data.csv", "not a square")),
    Case(
        "csv-unknown-header-column",
        csv_file("label,pixel0,pixel1,pixel2,colour\n"),
        FormatError,
        ("data.csv", "'colour'"),
    ),
    Case(
        "csv-duplicate-pixel-column",
        csv_file("label,pixel0,pixel1,pixel2,pixel2\n"),
        FormatError,
        ("data.csv", "duplicates or gaps"),
    ),
    Case(
        "csv-two-label-columns",
        csv_file("label,y,pixel0,pixel1,pixel2,pixel3\n"),
        FormatError,
        ("data.csv", "several label columns"),
    ),
    Case("csv-truncated-gz", _bad_gz_csv, TruncatedError, ("train.csv.gz", "gzip"), options=S22),
    Case(
        "csv-row-over-4MiB",
        csv_file("1," + "0" * (5 << 20) + "\n"),
        FormatError,
        ("data.csv", "line 1", "longer than"),
    ),
    Case(
        "csv-two-files-one-split",
        _two_train_csvs,
        FormatError,
        ("mnist_train.csv", "train.csv", "split 'train'"),
    ),
    Case(
        "csv-unterminated-quote",
        csv_file(ROW + '\n7,"0,0,0,0\n' + ROW + "\n"),
        FormatError,
        ("data.csv",),
        options=S22,
    ),
    Case(
        "csv-nul-bytes-are-missing-values",
        csv_file(b"\x00\x00\x00,\x00\n"),
        check=_check_nul_cells,
        options={"format": "csv"},
    ),
]

# --------------------------------------------------------------------------------- images


def _png_header(w: int, hgt: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", w, hgt, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(4096)))
        + chunk(b"IEND", b"")
    )


def image_root(tmp: Path, extra: Callable[[Path], None] | None = None) -> Path:
    """ROOT/train/<label>/<i>.png of DATA['train'] plus ``extra(root)``."""
    root = h.write_images(tmp / "imgs", {"train": DATA["train"]})
    if extra:
        extra(root)
    return root


def one_bad(
    name: str, payload: bytes | Callable[[Path], None], label: str = "3"
) -> Callable[[Path], Path]:
    def add(root: Path) -> None:
        d = root / "train" / label
        d.mkdir(parents=True, exist_ok=True)
        if callable(payload):
            payload(d / name)
        else:
            (d / name).write_bytes(payload)

    return lambda tmp: image_root(tmp, add)


def flagged(
    name: str,
    unreadable: int = 0,
    wrong_shape: int = 0,
    wrong_mode: int = 0,
    image: np.ndarray | None = None,
    **others: int,
) -> Callable[[dict[str, ImageBatch]], None]:
    """The row ``train/3/<name>`` has exactly these flags (``others``: more counters, e.g.
    ``rescaled=1``); every other counter is 0 there and the 8 good rows have none."""

    def check(got: dict[str, ImageBatch]) -> None:
        b = got["train"]
        assert len(b) == 9
        row = b.ids.tolist().index(f"train/3/{name}")
        want = (
            dict.fromkeys(b.defects, 0)
            | {"unreadable": unreadable, "wrong_shape": wrong_shape, "wrong_mode": wrong_mode}
            | others
        )
        assert {k: int(v[row]) for k, v in b.defects.items()} == want
        assert {k: int(v.sum()) for k, v in b.defects.items()} == want
        assert b.labels[row] == 3
        if unreadable:
            assert not b.images[row].any()
        if image is not None:
            assert b.images[row].tobytes() == image.tobytes()
        assert b.shape == (28, 28)

    return check


def _symlink_out(target_bytes: bytes) -> Callable[[Path], None]:
    def make(link: Path) -> None:
        outside = link.parents[3] / "outside.png"
        outside.write_bytes(target_bytes)
        link.symlink_to(outside)

    return make


def _symlink_in(link: Path) -> None:
    first = sorted((link.parents[1]).glob("*/*.png"))[0]
    link.symlink_to(first)


def _dir_link_out(tmp: Path) -> Path:
    def add(root: Path) -> None:
        outside = tmp / "elsewhere"
        outside.mkdir()
        (outside / "0.png").write_bytes(h.png_bytes(X[0]))
        (root / "train" / "77").symlink_to(outside, target_is_directory=True)

    return image_root(tmp, add)


def _dup_names(tmp: Path) -> Path:
    root = tmp / "dups"
    for split, img in (("train", X[0]), ("test", X[1])):
        (root / split / "3").mkdir(parents=True)
        (root / split / "3" / "a.png").write_bytes(h.png_bytes(img))
    return root


def _check_dups(got: dict[str, ImageBatch]) -> None:
    assert got["train"].ids.tolist() == ["train/3/a.png"]
    assert got["test"].ids.tolist() == ["test/3/a.png"]
    assert got["train"].images[0].tobytes() == X[0].tobytes()
    assert got["test"].images[0].tobytes() == X[1].tobytes()


def _mixed_layout(tmp: Path) -> Path:
    def add(root: Path) -> None:
        (root / "5").mkdir()
        (root / "5" / "x.png").write_bytes(h.png_bytes(X[0]))

    return image_root(tmp, add)


def _empty_root(tmp: Path) -> Path:
    (tmp / "empty" / "notes").parent.mkdir()
    (tmp / "empty" / "README.txt").write_text("nothing here")
    return tmp / "empty"


def _png16(path: Path) -> None:
    from PIL import Image

    Image.fromarray(X[0].astype(np.uint16) * 256).save(path)


def _grey_rgb() -> bytes:
    return h.png_bytes(X[0], mode="RGB")


def _dev_zero(link: Path) -> None:
    link.symlink_to("/dev/zero")


def _seven_twice(tmp: Path) -> Path:
    def add(root: Path) -> None:
        for name in ("7", "07"):
            (root / "train" / name).mkdir(exist_ok=True)
            (root / "train" / name / "x.png").write_bytes(h.png_bytes(X[0]))

    return image_root(tmp, add)


IMAGE_CASES = [
    Case(
        "img-corrupt-png",
        one_bad("bad.png", h.png_bytes(X[0])[:70]),
        check=flagged("bad.png", unreadable=1),
    ),
    Case(
        "img-png-bomb-1e10-pixels",
        one_bad("bomb.png", _png_header(100_000, 100_000)),
        check=flagged("bomb.png", unreadable=1),
    ),
    Case(
        "img-png-over-max-pixels",
        one_bad("big.png", _png_header(5000, 5000)),
        check=flagged("big.png", unreadable=1),
    ),
    Case(
        "img-not-an-image",
        one_bad("notes.txt", b"just some text\n"),
        check=flagged("notes.txt", unreadable=1),
    ),
    Case("img-empty-file", one_bad("zero.png", b""), check=flagged("zero.png", unreadable=1)),
    Case(
        "img-symlink-out-of-root",
        one_bad("link.png", _symlink_out(h.png_bytes(X[0]))),
        check=flagged("link.png", unreadable=1),
    ),
    Case(
        "img-symlink-inside-root-is-fine",
        one_bad("alias.png", _symlink_in),
        check=flagged("alias.png"),
    ),
    Case(
        "img-broken-symlink",
        one_bad("gone.png", lambda p: p.symlink_to(p.parent / "nope")),
        check=flagged("gone.png", unreadable=1),
    ),
    Case(
        "img-fifo",
        one_bad("pipe.png", lambda p: os.mkfifo(p)),
        check=flagged("pipe.png", unreadable=1),
    ),
    Case(
        "img-wrong-size",
        one_bad("big.png", h.png_bytes(np.full((32, 30), 200, np.uint8))),
        check=flagged("big.png", wrong_shape=1, image=np.full((28, 28), 200, np.uint8)),
    ),
    Case(
        "img-rgb-mode",
        one_bad("rgb.png", _grey_rgb()),
        check=flagged("rgb.png", wrong_mode=1, image=X[0]),
    ),
    Case(
        "img-dev-zero-link", one_bad("zero.png", _dev_zero), check=flagged("zero.png", unreadable=1)
    ),
    Case(
        "img-16-bit", one_bad("deep.png", _png16), check=flagged("deep.png", rescaled=1, image=X[0])
    ),
    Case(
        "img-7-and-07-folders",
        _seven_twice,
        FormatError,
        ("imgs", "train/07", "train/7", "label 7"),
    ),
    Case("img-dir-symlink-out-of-root", _dir_link_out, SourceError, ("77", "outside")),
    Case("img-duplicate-names-across-splits", _dup_names, check=_check_dups),
    Case("img-mixed-layout", _mixed_layout, FormatError, ("imgs", "mixes class folders")),
    Case(
        "img-no-class-folders",
        _empty_root,
        FormatError,
        ("empty", "no class folders"),
        options={"format": "images"},
    ),
]

# ------------------------------------------------------------------------------------ npz


def npz(**arrays: np.ndarray) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / "m.npz"
        np.savez(path, **arrays)
        return path

    return build


def _npz_forged_count(tmp: Path) -> Path:
    path = tmp / "forged.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key, shape, body in (
            ("x_train", (10**9, 28, 28), X[:2].tobytes()),
            ("y_train", (10**9,), Y[:2].tobytes()),
        ):
            buf = io.BytesIO()
            npformat.write_array_header_1_0(
                buf, {"descr": "|u1", "fortran_order": False, "shape": shape}
            )
            zf.writestr(f"{key}.npy", buf.getvalue() + body)
    return path


def _npz_cut(tmp: Path) -> Path:
    path = npz(x_train=X, y_train=Y)(tmp)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _npz_corrupt_member(tmp: Path) -> Path:
    path = tmp / "c.npz"
    np.savez_compressed(path, x_train=X, y_train=Y)
    raw = bytearray(path.read_bytes())
    raw[300:340] = bytes(40)
    path.write_bytes(bytes(raw))
    return path


def _npz_text_zip(tmp: Path) -> Path:
    path = tmp / "notes.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    return path


def _check_float_npz(got: dict[str, ImageBatch]) -> None:
    b = got["train"]
    # row 0 (all 0.6) is a float image in 0..1: scaled to 153, counted as rescaled
    assert b.defects["pixels_out_of_range"].tolist() == [0, 0, 1]
    assert b.defects["rescaled"].tolist() == [1, 0, 0]
    assert b.defects["missing_pixels"].tolist() == [0, 0, 1]
    assert b.images[0].max() == b.images[0].min() == 153 and b.images[1].max() == 255
    assert b.raw_min.tolist() == [0.6, 0.0, -2.0] and b.raw_max.tolist() == [0.6, 255.0, 0.0]
    assert b.labels.tolist() == [1, MISSING_LABEL, 2]


_FLOATS = np.zeros((3, 28, 28))
_FLOATS[0] = 0.6
_FLOATS[1, 0, 0] = 255
_FLOATS[2, 0, 0], _FLOATS[2, 0, 1] = np.nan, -2


def _npz_fortran(tmp: Path) -> Path:
    path = tmp / "f.npz"
    np.savez(path, x_train=np.asfortranarray(X), y_train=Y)
    return path


def _check_fortran_labels(got: dict[str, ImageBatch]) -> None:
    # a Fortran-ordered 1-D (or (n, 1)) array has the row-major layout: read as usual
    assert got["train"].labels.tolist() == Y.tolist()
    assert np.array_equal(got["train"].images, X)


def _npz_fortran_labels(tmp: Path) -> Path:
    path = tmp / "fl.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr, fortran in (("x_train", X, False), ("y_train", Y[:, None], True)):
            buf = io.BytesIO()
            npformat.write_array_header_1_0(
                buf, {"descr": arr.dtype.str, "fortran_order": fortran, "shape": arr.shape}
            )
            zf.writestr(f"{key}.npy", buf.getvalue() + arr.tobytes())
    return path


NPZ_CASES = [
    Case(
        "npz-fortran-order-refused",
        _npz_fortran,
        FormatError,
        ("f.npz", "'x_train'", "Fortran", "np.ascontiguousarray"),
    ),
    Case("npz-fortran-column-labels-read", _npz_fortran_labels, check=_check_fortran_labels),
    Case(
        "npz-object-array",
        npz(x_train=np.array([{"a": 1}] * 2, dtype=object), y_train=Y[:2]),
        FormatError,
        ("m.npz", "'x_train'", "Python objects"),
    ),
    Case(
        "npz-object-labels",
        npz(x_train=X[:2], y_train=np.array([1, "a"], dtype=object)),
        FormatError,
        ("m.npz", "'y_train'", "Python objects"),
    ),
    Case(
        "npz-missing-labels",
        npz(x_train=X, x_test=X, y_test=Y),
        FormatError,
        ("m.npz", "'y_train'"),
    ),
    Case("npz-no-arrays", npz(images=X, labels=Y), FormatError, ("m.npz", "no x_<split>")),
    Case(
        "npz-string-dtype",
        npz(x_train=np.full((2, 28, 28), "a"), y_train=Y[:2]),
        FormatError,
        ("m.npz", "'x_train'", "dtype <U1"),
    ),
    Case(
        "npz-flat-images",
        npz(x_train=X.reshape(12, -1), y_train=Y),
        FormatError,
        ("m.npz", "'x_train'", "(12, 784)"),
    ),
    Case(
        "npz-rgb-images",
        npz(x_train=np.zeros((2, 28, 28, 3), np.uint8), y_train=Y[:2]),
        FormatError,
        ("m.npz", "(2, 28, 28, 3)"),
    ),
    Case(
        "npz-count-mismatch",
        npz(x_train=X, y_train=Y[:5]),
        FormatError,
        ("m.npz", "12 images", "5 labels"),
    ),
    Case(
        "npz-shapes-differ",
        npz(x_train=X, y_train=Y, x_test=np.zeros((1, 8, 8), np.uint8), y_test=Y[:1]),
        FormatError,
        ("m.npz", "different image shapes"),
    ),
    Case(
        "npz-forged-1e9-rows",
        _npz_forged_count,
        TruncatedError,
        ("forged.npz", "'x_train'", "(1000000000, 28, 28)"),
    ),
    Case("npz-cut-in-half", _npz_cut, FormatError, ("m.npz", "cannot open as .npz")),
    Case("npz-corrupt-member", _npz_corrupt_member, FormatError, ("c.npz", "'x_train'")),
    Case("npz-zip-of-text", _npz_text_zip, FormatError, ("notes.npz", "no x_<split>")),
    Case(
        "npz-float-images-are-findings",
        npz(x_train=_FLOATS, y_train=np.array([1.0, 2.5, 2.0])),
        check=_check_float_npz,
    ),
]

# -------------------------------------------------------------------------------- parquet


def parquet(table: pa.Table, name: str = "t.parquet") -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        pq.write_table(table, tmp / name)
        return tmp / name

    return build


_GOOD = h.generic_table(X[:4], Y[:4], "list")


def _list_rows(rows: list, labels: list) -> pa.Table:
    return pa.table(
        {"label": pa.array(labels, pa.int64()), "image": pa.array(rows, pa.list_(pa.uint8()))}
    )


def _pq_cut(tmp: Path) -> Path:
    path = parquet(_GOOD)(tmp)
    raw = path.read_bytes()
    path.write_bytes(raw[:-30])
    return path


def _shard_in_wrong_folder(tmp: Path) -> Path:
    folder = h.write_idx(tmp / "idx", DATA)
    shards = h.write_shards(tmp / "shards", open_source(folder), rows=3, manifest=False)
    (shards / "test" / "part-00000.parquet").replace(shards / "train" / "part-00009.parquet")
    return shards


def _shards(tmp: Path) -> Path:
    return h.write_shards(tmp / "shards", open_source(h.write_idx(tmp / "idx", DATA)), rows=3)


def _shard_missing(tmp: Path) -> Path:
    shards = _shards(tmp)
    (shards / "test" / "part-00001.parquet").unlink()
    return shards


def _shard_rows_differ(tmp: Path) -> Path:
    shards = _shards(tmp)
    path = shards / "train" / "part-00001.parquet"
    pq.write_table(pq.read_table(path).slice(1), path)
    return shards


def _manifest_garbage(tmp: Path) -> Path:
    shards = _shards(tmp)
    (shards / "manifest.json").write_text("{not json")
    return shards


def _stray_files_ignored(tmp: Path) -> Path:
    shards = _shards(tmp)
    pq.write_table(pa.table({"x": [1]}), shards / "train" / "stray.parquet")
    pq.write_table(pa.table({"x": [1]}), shards / "quarantine.parquet")
    return shards


def _check_stray(got: dict[str, ImageBatch]) -> None:
    assert {k: len(v) for k, v in got.items()} == {"train": 8, "test": 4}
    assert got["test"].ids.tolist() == [f"test/{i}" for i in range(4)]


def _check_nulls(got: dict[str, ImageBatch]) -> None:
    b = got["train"]
    assert b.labels.tolist() == [int(Y[0]), MISSING_LABEL, MISSING_LABEL]
    assert b.defects["unreadable"].tolist() == [0, 1, 0]
    assert b.defects["missing_pixels"].tolist() == [0, 0, 784]
    assert not b.images[1].any()


def _check_bad_png_cell(got: dict[str, ImageBatch]) -> None:
    b = got["train"]
    assert b.defects["unreadable"].tolist() == [0, 1, 1]
    assert b.images[0].tobytes() == X[0].tobytes()


_NULLS = pa.table(
    {
        "label": pa.array([int(Y[0]), None, -3], pa.int64()),
        "image": pa.array([list(X[0].ravel()), None, [None] * 784], pa.list_(pa.uint8())),
    }
)

PARQUET_CASES = [
    Case(
        "pq-missing-image-column",
        parquet(pa.table({"label": [1, 2], "other": [3, 4]})),
        FormatError,
        ("t.parquet", "no image column", "label, other"),
    ),
    Case(
        "pq-missing-named-label",
        parquet(_GOOD),
        FormatError,
        ("t.parquet", "'digit'"),
        options={"label_column": "digit"},
    ),
    Case(
        "pq-wrong-list-length",
        parquet(_list_rows([list(X[0].ravel()), list(X[1].ravel()), [1, 2, 3]], [1, 2, 3])),
        FormatError,
        ("t.parquet", "record 2", "3 values"),
    ),
    Case(
        "pq-fixed-binary-wrong-size",
        parquet(h.generic_table(np.zeros((2, 20, 20), np.uint8), Y[:2], "fixed")),
        FormatError,
        ("t.parquet", "400", "784"),
        options={"shape": (28, 28)},
    ),
    Case("pq-truncated-footer", _pq_cut, FormatError, ("t.parquet", "cannot read as Parquet")),
    Case(
        "pq-not-parquet",
        csv_file("a,b\n1,2\n", name="t.parquet"),
        FormatError,
        ("t.parquet", "PAR1"),
        options={"format": "parquet"},
    ),
    Case(
        "pq-label-wrong-type",
        parquet(pa.table({"label": [[1], [2]], "image": [b"x", b"y"]})),
        FormatError,
        ("t.parquet", "label column 'label'"),
    ),
    Case(
        "pq-image-wrong-type",
        parquet(pa.table({"label": [1], "image": ["text"]})),
        FormatError,
        ("t.parquet", "image column 'image' has type string"),
    ),
    Case("pq-nulls-are-findings", parquet(_NULLS), check=_check_nulls),
    Case(
        "pq-corrupt-png-cells",
        parquet(
            pa.table({"label": [1, 2, 3], "image": [h.png_bytes(X[0]), b"\x89PNG garbage", b""]})
        ),
        check=_check_bad_png_cell,
    ),
    Case(
        "pq-shard-in-wrong-split-folder",
        _shard_in_wrong_folder,
        FormatError,
        ("part-00009.parquet", "record 0", "split 'test'"),
    ),
    Case(
        "pq-manifest-shard-missing", _shard_missing, SourceError, ("part-00001.parquet", "missing")
    ),
    Case(
        "pq-manifest-rows-differ",
        _shard_rows_differ,
        FormatError,
        ("part-00001.parquet", "holds 2 rows", "says 3"),
    ),
    Case("pq-manifest-not-json", _manifest_garbage, FormatError, ("manifest.json",)),
    Case("pq-manifest-ignores-stray-files", _stray_files_ignored, check=_check_stray),
]

# ------------------------------------------------------------------------------ detection


DETECT_CASES = [
    Case(
        "detect-random-binary",
        csv_file(bytes(range(256)) * 4, name="blob.bin"),
        SourceError,
        ("blob.bin", "cannot tell the format"),
    ),
    Case(
        "detect-single-png",
        csv_file(h.png_bytes(X[0]), name="one.png"),
        SourceError,
        ("one.png", "single image"),
    ),
    Case("detect-zero-length", csv_file(b"", name="nothing"), TruncatedError, ("nothing", "empty")),
    Case(
        "detect-lone-idx-file",
        csv_file(h.idx_bytes(X[:2]), name="x-idx3"),
        SourceError,
        ("x-idx3", "IDX file on its own"),
    ),
    Case(
        "detect-npy",
        csv_file(b"\x93NUMPY\x01\x00", name="a.npy"),
        SourceError,
        ("a.npy", ".npy array"),
    ),
]

CASES = IDX_CASES + CSV_CASES + IMAGE_CASES + NPZ_CASES + PARQUET_CASES + DETECT_CASES


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    if case.error is not None:
        with pytest.raises(case.error) as info:
            read(path, **case.options)
        message = str(info.value)
        for name in case.names:
            assert name in message, f"{name!r} not in {message!r}"
        assert type(info.value).__module__ == "dataqual.errors"
    else:
        assert case.check is not None
        case.check(read(path, **case.options))
