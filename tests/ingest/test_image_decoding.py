"""Image decoding (issue 8): deep samples, EXIF orientation, alpha-only ink, folder labels,
and files that must never be opened. Every input is built here in ``tmp_path``.

Each repair must show in its counter (``rescaled``, ``reoriented``, ``from_alpha``), through
both readers that decode images: the image folder and a Parquet column of encoded bytes.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp
from PIL import Image

from dataqual.errors import FormatError
from dataqual.imageset import ImageBatch
from dataqual.ingest.decode import DECODE_DEFECTS, decode_image, decode_images, image_size
from dataqual.ingest.images import ImageFolderSource
from dataqual.ingest.sources import open_source
from dataqual.ingest.split import concat_batches

from . import writers as h

S = (28, 28)


def digit() -> np.ndarray:
    """An asymmetric 28x28 'digit' of large flat strokes (survives JPEG; any rotation or
    flip of it differs from it a lot)."""
    img = np.zeros(S, np.uint8)
    img[4:9, 6:23] = 255  # top bar
    img[9:25, 17:22] = 200  # right stem
    img[14:18, 4:12] = 120  # a small left stub, lower half only
    return img


def read_folder(root: Path, **options: object) -> ImageBatch:
    source = open_source(root, **options)
    return concat_batches(list(source.iter_batches("train", 4)))


def one_file(tmp: Path, name: str, data: bytes, label: str = "3") -> Path:
    """ROOT/<label>/<name> holding ``data``, plus one plain 8-bit PNG in ROOT/1."""
    root = tmp / "imgs"
    (root / label).mkdir(parents=True)
    (root / label / name).write_bytes(data)
    (root / "1").mkdir(exist_ok=True)
    (root / "1" / "plain.png").write_bytes(h.png_bytes(digit()))
    return root


def row(batch: ImageBatch, ident: str) -> tuple[np.ndarray, dict[str, int]]:
    i = batch.ids.tolist().index(ident)
    return batch.images[i], {k: int(v[i]) for k, v in batch.defects.items()}


def only(**flags: int) -> dict[str, int]:
    """Every decode counter 0 except ``flags``."""
    return dict.fromkeys(DECODE_DEFECTS, 0) | flags


def png16(values: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(values.astype(np.uint16)).save(out, "PNG")
    return out.getvalue()


def png_raw(arr: np.ndarray, color_type: int, depth: int) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour): filter 0 on every row."""
    hgt, w = arr.shape[:2]
    dtype = ">u2" if depth == 16 else "u1"
    raw = b"".join(b"\x00" + arr[i].astype(dtype).tobytes() for i in range(hgt))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, hgt, depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def rgba_png(rgb: np.ndarray, alpha: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA").save(out, "PNG")
    return out.getvalue()


def la_png(gray: np.ndarray, alpha: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.dstack([gray, alpha]).astype(np.uint8), "LA").save(out, "PNG")
    return out.getvalue()


def tiff(values: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(values).save(out, "TIFF")
    return out.getvalue()


# ------------------------------------------------------------------------- deep samples

KNOWN16 = np.zeros(S, np.uint16)
KNOWN16[0, :6] = [65535, 32768, 256, 255, 1, 0]
KNOWN16[1:, :] = 40000


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    b = read_folder(one_file(tmp_path, "deep.png", png16(KNOWN16)))
    img, flags = row(b, "train/3/deep.png")
    assert img[0, :6].tolist() == [255, 128, 1, 0, 0, 0]
    assert (img[1:] == 40000 >> 8).all()
    assert flags == only(rescaled=1)
    assert row(b, "train/1/plain.png")[1] == only()


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.uint16, (5, 7)))
def test_16_bit_png_is_the_high_byte(values: np.ndarray) -> None:
    img, flags = decode_image(png16(values), (5, 7))
    assert np.array_equal(img, (values >> 8).astype(np.uint8))
    assert flags == only(rescaled=1)


def test_16_bit_tiff_is_scaled(tmp_path: Path) -> None:
    img, flags = decode_image(tiff(KNOWN16), S)
    assert img[0, :6].tolist() == [255, 128, 1, 0, 0, 0]
    assert flags == only(rescaled=1)


def test_16_bit_colour_png_counts_as_rescaled() -> None:
    rgb = np.zeros((*S, 3), np.uint16)
    rgb[..., :] = np.array([32768, 32768, 32768], np.uint16)
    img, flags = decode_image(png_raw(rgb, 2, 16), S)
    assert (img == 128).all()
    assert flags == only(rescaled=1, wrong_mode=1)


def test_32_bit_int_tiff_scaled_by_declared_range() -> None:
    v = np.zeros(S, np.int32)
    v[0, :4] = [2**31 - 1, 2**30, 2**23, -5]  # signed 32 bits: 0..2^31-1 -> 0..255
    img, flags = decode_image(tiff(v), S)
    assert img[0, :4].tolist() == [255, 128, 1, 0]
    assert flags == only(rescaled=1, pixels_out_of_range=1)


def test_float_tiff_unit_range_scaled_and_others_counted() -> None:
    unit = np.zeros(S, np.float32)
    unit[0, :3] = [1.0, 0.5, 0.0]
    img, flags = decode_image(tiff(unit), S)
    assert img[0, :3].tolist() == [255, 128, 0]
    assert flags == only(rescaled=1)
    wide = np.zeros(S, np.float32)
    wide[0, :4] = [300.0, -2.0, np.nan, 17.0]
    img, flags = decode_image(tiff(wide), S)
    assert img[0, :4].tolist() == [255, 0, 0, 17]
    assert flags == only(pixels_out_of_range=2, missing_pixels=1)


# -------------------------------------------------------------------------- orientation


def jpeg(img: np.ndarray, orientation: int | None) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(img).save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


# EXIF orientation -> how the camera stored an upright picture (np.rot90 turns
# counter-clockwise): 6 = "rotate 90 clockwise to view", 8 = counter-clockwise, 3 = 180.
STORED = {3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, 1), 8: lambda a: np.rot90(a, -1)}


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    upright = digit()
    stored = np.ascontiguousarray(STORED[orientation](upright))
    b = read_folder(one_file(tmp_path, "photo.jpg", jpeg(stored, orientation)))
    img, flags = row(b, "train/3/photo.jpg")
    err = np.abs(img.astype(int) - upright).mean()
    assert err < 4, err  # JPEG noise only
    assert np.abs(stored.astype(int) - upright).mean() > 40  # the test can tell
    assert flags == only(reoriented=1)


# EXIF orientation -> how a viewer turns the stored pixels upright (the EXIF/TIFF spec).
VIEW = {
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).T,
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(VIEW))
def test_every_orientation_in_a_png_exif_chunk(orientation: int) -> None:
    stored = np.arange(28 * 28, dtype=np.uint32).reshape(S).astype(np.uint8)
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(out, "PNG", exif=exif.tobytes())
    img, flags = decode_image(out.getvalue(), S)
    assert img.tobytes() == np.ascontiguousarray(VIEW[orientation](stored)).tobytes()
    assert flags == only(reoriented=1)


def test_orientation_1_and_none_are_untouched() -> None:
    for orientation in (1, None):
        img, flags = decode_image(jpeg(digit(), orientation), S)
        assert np.abs(img.astype(int) - digit()).mean() < 4
        assert flags == only()


def test_image_size_follows_orientation(tmp_path: Path) -> None:
    wide = np.zeros((20, 28), np.uint8)
    wide[2:6] = 255
    assert image_size(jpeg(wide, 6)) == (28, 20)
    assert image_size(jpeg(wide, 3)) == (20, 28)
    path = tmp_path / "w.jpg"
    path.write_bytes(jpeg(wide, 8))
    assert image_size(path) == (28, 20)
    img, flags = decode_image(path, (28, 20))
    assert flags == only(reoriented=1)
    # orientation 8 turns the stored picture 90 degrees counter-clockwise: the top bar
    # becomes the left column
    assert img[:, 2:6].mean() > 200 and img[:, 8:].max() < 60


def test_16_bit_tiff_with_orientation(tmp_path: Path) -> None:
    stored = (np.arange(20 * 28).reshape(20, 28) * 100).astype(np.uint16)
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(out, "TIFF", exif=exif)
    path = tmp_path / "t.tif"
    path.write_bytes(out.getvalue())
    assert image_size(path) == (28, 20)
    img, flags = decode_image(path, (28, 20))
    assert (
        img.tobytes() == np.ascontiguousarray(np.rot90(stored >> 8, -1)).astype(np.uint8).tobytes()
    )
    assert flags == only(rescaled=1, reoriented=1)


# -------------------------------------------------------------------------------- alpha


def test_alpha_only_digit_gives_alpha_as_ink(tmp_path: Path) -> None:
    ink = digit()
    for colour in (0, 255):  # black or white paint: only alpha draws the digit
        data = rgba_png(np.full((*S, 3), colour, np.uint8), ink)
        img, flags = decode_image(data, S)
        assert img.tobytes() == ink.tobytes()
        assert flags == only(from_alpha=1, wrong_mode=1)
    b = read_folder(one_file(tmp_path, "a.png", la_png(np.zeros(S, np.uint8), ink)))
    img, flags = row(b, "train/3/a.png")
    assert img.tobytes() == ink.tobytes()
    assert flags == only(from_alpha=1, wrong_mode=1)


def test_a_dataset_drawn_in_alpha_is_not_blank(tmp_path: Path) -> None:
    for label in range(3):
        d = tmp_path / "alpha" / str(label)
        d.mkdir(parents=True)
        for i in range(2):
            ink = np.roll(digit(), 2 * i + label, axis=1)
            (d / f"{i}.png").write_bytes(rgba_png(np.zeros((*S, 3), np.uint8), ink))
    b = read_folder(tmp_path / "alpha")
    assert len(b) == 6 and (b.images.max(axis=(1, 2)) == 255).all()
    assert b.defects["from_alpha"].tolist() == [1] * 6


def test_rgba_with_colour_is_composited_on_black() -> None:
    gray = np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))
    alpha = np.full(S, 255, np.uint8)
    alpha[:, :14] = 0  # left half transparent
    alpha[0, 20] = 128
    img, flags = decode_image(rgba_png(np.dstack([gray] * 3), alpha), S)
    assert flags == only(wrong_mode=1)
    assert not img[:, :14].any()
    assert img[1:, 14:].tobytes() == gray[1:, 14:].tobytes()
    assert img[0, 20] == round(int(gray[0, 20]) * 128 / 255)
    opaque, flags = decode_image(rgba_png(np.dstack([gray] * 3), np.full(S, 255)), S)
    assert opaque.tobytes() == gray.tobytes() and flags == only(wrong_mode=1)


def test_constant_colour_and_constant_alpha_is_not_from_alpha() -> None:
    img, flags = decode_image(rgba_png(np.full((*S, 3), 200, np.uint8), np.full(S, 255)), S)
    assert (img == 200).all() and flags == only(wrong_mode=1)


# ----------------------------------------------------------------------- through Parquet


def test_parquet_png_cells_share_the_decoder(tmp_path: Path) -> None:
    ink = digit()
    cells = [
        png16(KNOWN16),
        rgba_png(np.zeros((*S, 3), np.uint8), ink),
        jpeg(np.ascontiguousarray(STORED[6](ink)), 6),
        h.png_bytes(ink),
        None,
    ]
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"label": [1, 2, 3, 4, 5], "image": pa.array(cells, pa.binary())}), path
    )
    source = open_source(path)
    b = concat_batches(list(source.iter_batches("train")))
    assert b.images[0, 0, :3].tolist() == [255, 128, 1]
    assert b.images[1].tobytes() == ink.tobytes()
    assert np.abs(b.images[2].astype(int) - ink).mean() < 4
    assert b.images[3].tobytes() == ink.tobytes()
    flags = {k: v.tolist() for k, v in b.defects.items()}
    assert flags == only() | {
        "rescaled": [1, 0, 0, 0, 0],
        "from_alpha": [0, 1, 0, 0, 0],
        "wrong_mode": [0, 1, 0, 0, 0],
        "reoriented": [0, 0, 1, 0, 0],
        "unreadable": [0, 0, 0, 0, 1],
        "wrong_shape": [0] * 5,
        "pixels_out_of_range": [0] * 5,
        "missing_pixels": [0] * 5,
    }


def test_parquet_hf_struct_cells(tmp_path: Path) -> None:
    cells = pa.array(
        [{"bytes": png16(KNOWN16), "path": "a.png"}],
        pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
    )
    path = tmp_path / "hf.parquet"
    pq.write_table(pa.table({"label": [1], "image": cells}), path)
    b = concat_batches(list(open_source(path).iter_batches("train")))
    assert b.images[0, 0, :3].tolist() == [255, 128, 1]
    assert int(b.defects["rescaled"][0]) == 1


# -------------------------------------------------------------------------------- labels


def class_folders(tmp: Path, names: list[str], split: str | None = None) -> Path:
    root = tmp / "lab"
    for name in names:
        d = root / split / name if split else root / name
        d.mkdir(parents=True)
        (d / "0.png").write_bytes(h.png_bytes(digit()))
    return root


def test_two_folders_for_one_label_are_refused(tmp_path: Path) -> None:
    root = class_folders(tmp_path, ["7", "07", "3"])
    with pytest.raises(FormatError) as info:
        ImageFolderSource(root)
    msg = str(info.value)
    assert str(root) in msg and "class folders 07 and 7 both mean label 7" in msg


def test_one_label_across_splits_under_two_names_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    for split, name in (("train", "7"), ("test", "007")):
        (root / split / name).mkdir(parents=True)
        (root / split / name / "0.png").write_bytes(h.png_bytes(digit()))
    with pytest.raises(FormatError, match=r"test/007 and train/7 both mean label 7"):
        ImageFolderSource(root)


@pytest.mark.parametrize("name", ["٧", "７", "²"])
def test_digits_other_than_ascii_are_refused(tmp_path: Path, name: str) -> None:
    root = class_folders(tmp_path, ["7", name])
    with pytest.raises(FormatError) as info:
        ImageFolderSource(root)
    assert name in str(info.value) and "ASCII" in str(info.value)


def test_leading_zero_alone_is_its_number(tmp_path: Path) -> None:
    source = ImageFolderSource(class_folders(tmp_path, ["07", "3"]))
    assert source.class_names == {"07": 7, "3": 3}


def test_superscript_file_names_do_not_crash(tmp_path: Path) -> None:
    root = class_folders(tmp_path, ["3"])
    for name in ("x1².png", "²", "a٣.png"):
        (root / "3" / name).write_bytes(h.png_bytes(digit()))
    b = read_folder(root)
    assert len(b) == 4 and not b.defects["unreadable"].any()


# ------------------------------------------------------------- files that are not files

_HOSTILE = r"""
import json, os, sys
from pathlib import Path
from dataqual.ingest.decode import decode_images, image_size
from dataqual.ingest.images import looks_like_image_folder
from dataqual.ingest.sources import open_source
root = Path(sys.argv[1])
source = open_source(root)
out = {"looks": looks_like_image_folder(root), "shape": list(source.shape),
       "files": sorted(str(p.relative_to(root)) for p in source.files()), "rows": {}}
for batch in source.iter_batches("train", 2):
    for i, ident in enumerate(batch.ids.tolist()):
        out["rows"][ident] = int(batch.defects["unreadable"][i])
bad = [root / "3" / "pipe.png", root / "3" / "zero.png"]
out["direct"] = decode_images(bad, (28, 28))[1]["unreadable"].tolist()
out["sizes"] = [image_size(p) for p in bad]
print(json.dumps(out))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_dev_zero_are_never_opened(tmp_path: Path) -> None:
    root = class_folders(tmp_path, ["3"])
    os.mkfifo(root / "3" / "pipe.png")
    (root / "3" / "zero.png").symlink_to("/dev/zero")
    outside = tmp_path / "outside.png"
    outside.write_bytes(h.png_bytes(digit()))
    (root / "3" / "out.png").symlink_to(outside)
    try:
        run = subprocess.run(
            [sys.executable, "-c", _HOSTILE, str(root)], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO or /dev/zero hung")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["files"] == ["3/0.png"]
    assert got["rows"] == {
        "train/3/0.png": 0,
        "train/3/out.png": 1,
        "train/3/pipe.png": 1,
        "train/3/zero.png": 1,
    }
    assert got["direct"] == [1, 1] and got["sizes"] == [None, None]
    assert got["shape"] == [28, 28] and got["looks"] is True


def test_decode_images_none_and_garbage_are_unreadable() -> None:
    images, defects = decode_images([None, b"", b"not an image", h.png_bytes(digit())], S)
    assert set(defects) == set(DECODE_DEFECTS)
    assert defects["unreadable"].tolist() == [1, 1, 1, 0]
    assert not images[:3].any() and images[3].tobytes() == digit().tobytes()
    assert all(v.dtype == np.int32 for v in defects.values())
