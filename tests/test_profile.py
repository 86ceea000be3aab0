"""Profile: per-image statistics on crafted images, checked against plain float64 NumPy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dataqual.imageset import DEFECT_NAMES, ImageBatch, position_ids
from dataqual.profile import (
    INK_THRESHOLD,
    PROFILE_COLUMNS,
    THUMB_SIDE,
    content_hash,
    profile_batch,
    profile_batches,
    thumbnails,
)


def make_batch(
    images: np.ndarray,
    labels: list[int] | np.ndarray | None = None,
    split: str = "train",
    start: int = 0,
    **extra: object,
) -> ImageBatch:
    images = np.asarray(images, dtype=np.uint8)
    n = len(images)
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
    return ImageBatch(
        split=split,
        ids=position_ids(split, start, start + n),
        labels=labels,
        images=images,
        positions=np.arange(start, start + n),
        **extra,
    )


def row(images: np.ndarray, **kwargs: object) -> pd.Series:
    """The profile row of a single image."""
    return profile_batch(make_batch(images[None], **kwargs)).iloc[0]


def reference(img: np.ndarray) -> dict[str, float]:
    """Straightforward float64 statistics of one image, independent of the vectorised code."""
    x = img.astype(np.float64)
    h, w = x.shape
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    total = x.sum()
    rows, cols = np.arange(h), np.arange(w)
    ink = img > INK_THRESHOLD
    ink_rows, ink_cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return {
        "mean": x.mean(),
        "std": x.std(),
        "ink_fraction": ink.mean(),
        "midtone_fraction": ((img > 32) & (img < 223)).mean(),
        "pixel_min": x.min(),
        "pixel_max": x.max(),
        "border_mean": x[border].mean(),
        "com_row": (x.sum(1) @ rows / total - (h - 1) / 2) if total else 0.0,
        "com_col": (x.sum(0) @ cols / total - (w - 1) / 2) if total else 0.0,
        "bbox_height": (ink_rows[-1] - ink_rows[0] + 1) if len(ink_rows) else 0,
        "bbox_width": (ink_cols[-1] - ink_cols[0] + 1) if len(ink_cols) else 0,
    }


# ------------------------------------------------------------------------ crafted images


def test_all_zero_image() -> None:
    r = row(np.zeros((28, 28)))
    assert r["mean"] == 0 and r["std"] == 0
    assert r["ink_fraction"] == 0 and r["midtone_fraction"] == 0
    assert r["pixel_min"] == 0 and r["pixel_max"] == 0
    assert r["border_mean"] == 0
    assert r["com_row"] == 0 and r["com_col"] == 0  # no mass: reported at the centre
    assert r["bbox_height"] == 0 and r["bbox_width"] == 0


@pytest.mark.parametrize(("r", "c"), [(0, 0), (3, 20), (13, 14), (27, 27), (27, 5)])
def test_single_white_pixel(r: int, c: int) -> None:
    img = np.zeros((28, 28), np.uint8)
    img[r, c] = 255
    got = row(img)
    assert got["com_row"] == pytest.approx(r - 13.5, abs=1e-5)
    assert got["com_col"] == pytest.approx(c - 13.5, abs=1e-5)
    assert (got["bbox_height"], got["bbox_width"]) == (1, 1)
    assert got["ink_fraction"] == pytest.approx(1 / 784)
    assert got["mean"] == pytest.approx(255 / 784)
    # population std of one 255 among 783 zeros
    assert got["std"] == pytest.approx(255 * np.sqrt(783) / 784, rel=1e-6)
    on_border = r in (0, 27) or c in (0, 27)
    assert got["border_mean"] == pytest.approx(255 / 108 if on_border else 0.0)  # 108 border pixels
    assert (got["pixel_min"], got["pixel_max"]) == (0, 255)


def test_single_pixel_on_a_non_square_image() -> None:
    img = np.zeros((5, 7), np.uint8)
    img[4, 1] = 200
    got = row(img)
    assert got["com_row"] == pytest.approx(4 - 2.0)
    assert got["com_col"] == pytest.approx(1 - 3.0)
    assert got["border_mean"] == pytest.approx(200 / 20)  # 2 * (5 + 7) - 4 border pixels
    assert got["ink_fraction"] == pytest.approx(1 / 35)


def test_inverted_image_has_a_white_border() -> None:
    img = np.full((28, 28), 255, np.uint8)
    img[6:22, 12:16] = 0  # a dark stroke on white
    got = row(img)
    assert got["border_mean"] == 255
    assert got["ink_fraction"] == pytest.approx(1 - 16 * 4 / 784)
    assert (got["bbox_height"], got["bbox_width"]) == (28, 28)
    assert got["com_row"] == pytest.approx(0.0, abs=1e-6)  # the stroke is centred
    assert got["com_col"] == pytest.approx(0.0, abs=1e-6)
    assert got["pixel_min"] == 0 and got["pixel_max"] == 255


def test_bounding_box_counts_only_ink() -> None:
    img = np.zeros((28, 28), np.uint8)
    img[5:9, 10:20] = 128  # ink (> 127)
    img[0, 0] = 127  # not ink, but has mass
    got = row(img)
    assert (got["bbox_height"], got["bbox_width"]) == (4, 10)
    assert got["ink_fraction"] == pytest.approx(40 / 784)
    assert got["midtone_fraction"] == pytest.approx(41 / 784)  # 32 < v < 223


def test_one_pixel_thick_images_border() -> None:
    """Every pixel of a 1xW image is a border pixel."""
    got = profile_batch(make_batch(np.array([[[10, 20, 30, 40, 50]]])))
    assert got["border_mean"].iloc[0] == pytest.approx(30.0)
    one = profile_batch(make_batch(np.array([[[77]]])))
    assert one["border_mean"].iloc[0] == 77


def test_mean_and_std_against_float64_numpy() -> None:
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    images[0] = 255  # constant: std exactly 0
    images[1, :, :14] = 0  # half black
    table = profile_batch(make_batch(images))
    for i, img in enumerate(images):
        want = reference(img)
        assert table["mean"].iloc[i] == pytest.approx(want["mean"], rel=1e-6)
        assert table["std"].iloc[i] == pytest.approx(want["std"], rel=1e-5, abs=1e-4)
    assert table["std"].iloc[0] == 0


# ------------------------------------------------------------------------ table shape


def test_columns_dtypes_ids_and_missing_labels() -> None:
    images = np.zeros((3, 28, 28), np.uint8)
    table = profile_batch(make_batch(images, labels=[4, -1, 9], split="test", start=7))
    assert tuple(table.columns) == PROFILE_COLUMNS
    assert table["id"].tolist() == ["test/7", "test/8", "test/9"]
    assert table["position"].tolist() == [7, 8, 9]
    assert table["split"].astype(str).tolist() == ["test"] * 3
    assert str(table["label"].dtype) == "Int64"
    assert table["label"].iloc[0] == 4 and table["label"].iloc[2] == 9
    assert table["label"].iloc[1] is pd.NA
    assert table["label"].isna().tolist() == [False, True, False]
    for name in DEFECT_NAMES:
        assert table[f"defect_{name}"].tolist() == [0, 0, 0]


def test_defects_are_carried_per_row() -> None:
    images = np.zeros((3, 4, 4), np.uint8)
    defects = {
        "missing_pixels": np.array([0, 5, 0], np.int32),
        "wrong_shape": np.array([1, 0, 1], np.int32),
    }
    table = profile_batch(make_batch(images, defects=defects))
    assert table["defect_missing_pixels"].tolist() == [0, 5, 0]
    assert table["defect_wrong_shape"].tolist() == [1, 0, 1]
    assert table["defect_unreadable"].tolist() == [0, 0, 0]
    assert table["defect_missing_pixels"].dtype == np.int32


def test_raw_min_and_max_override_the_clipped_pixels() -> None:
    images = np.zeros((3, 4, 4), np.uint8)
    images[:, 1, 1] = 255
    images[2] = 100
    batch = make_batch(
        images,
        raw_min=np.array([-5.0, np.nan, 100.0]),  # NaN: nothing known beyond the image
        raw_max=np.array([300.5, np.nan, 100.0]),
    )
    table = profile_batch(batch)
    assert table["pixel_min"].tolist() == [-5.0, 0.0, 100.0]
    assert table["pixel_max"].tolist() == [300.5, 255.0, 100.0]


def test_empty_batch_and_empty_stream() -> None:
    table = profile_batch(make_batch(np.zeros((0, 28, 28))))
    assert tuple(table.columns) == PROFILE_COLUMNS and len(table) == 0
    assert thumbnails(np.zeros((0, 28, 28), np.uint8)).shape == (0, THUMB_SIDE**2)
    profile = profile_batches([], (5, 7))
    assert tuple(profile.table.columns) == PROFILE_COLUMNS and len(profile.table) == 0
    assert profile.thumbs.shape == (0, THUMB_SIDE**2)
    assert profile.shape == (5, 7)


def test_profile_batches_concatenates_tables_and_aligned_thumbnails() -> None:
    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    batches = [
        make_batch(train[:3]),
        make_batch(train[3:], start=3),
        make_batch(test, split="test"),
    ]
    profile = profile_batches(batches, (28, 28))
    assert profile.table["id"].tolist() == [f"train/{i}" for i in range(5)] + ["test/0", "test/1"]
    assert profile.splits == ["train", "test"]
    assert profile.split("test")["id"].tolist() == ["test/0", "test/1"]
    assert profile.table.index.tolist() == list(range(7))
    assert np.array_equal(profile.thumbs, thumbnails(np.concatenate([train, test])))
    assert profile.table["mean"].iloc[6] == pytest.approx(test[1].mean(), rel=1e-6)


@pytest.mark.parametrize("workers", [1, 3])
def test_profile_batches_gives_the_same_profile_on_any_number_of_threads(workers: int) -> None:
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    batches = [make_batch(images[i : i + 2], start=i) for i in range(0, 9, 2)]
    default = profile_batches(batches, (28, 28))
    threaded = profile_batches(iter(batches), (28, 28), workers=workers)
    pd.testing.assert_frame_equal(threaded.table, default.table)
    assert np.array_equal(threaded.thumbs, default.thumbs)
    assert threaded.table["id"].tolist() == [f"train/{i}" for i in range(9)]


# ------------------------------------------------------------------------ content hash


def test_content_hash_equal_for_equal_images_and_differs_on_one_pixel() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    images = np.stack([a, a.copy(), a.copy(), a.copy()])
    images[2, 27, 27] ^= 1  # lowest bit of the last pixel
    images[3, 0, 0] = (int(a[0, 0]) + 1) % 256
    digests = content_hash(images)
    assert digests.dtype.kind == "U" and all(len(d) == 32 for d in digests)
    assert all(set(d) <= set("0123456789abcdef") for d in digests)
    assert digests[0] == digests[1]
    assert len({digests[0], digests[2], digests[3]}) == 3


def test_content_hash_with_padding_relevant_sizes() -> None:
    """5x7 = 35 bytes is padded to 40 for hashing: the pixels near and in the padded word
    must still count, and the padding must not make unlike images collide."""
    base = np.zeros((5, 7), np.uint8)
    last = base.copy()
    last[4, 6] = 1  # the 35th byte, inside the padded last word
    digests = content_hash(np.stack([base, last, base]))
    assert digests[0] == digests[2] != digests[1]
    # The same leading bytes followed by zeros, in a 5x8 image: a different image.
    wide = np.zeros((1, 5, 8), np.uint8)
    assert content_hash(wide)[0] != digests[0]


def test_content_hash_is_a_pure_function_of_the_pixels() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    whole = content_hash(images)
    assert content_hash(images[3:5]).tolist() == whole[3:5].tolist()  # batch-independent
    assert content_hash(np.asfortranarray(images)).tolist() == whole.tolist()
    assert len(set(whole.tolist())) == 9
    assert content_hash(images[:0]).shape == (0,)


# ------------------------------------------------------------------------ thumbnails


def test_thumbnails_are_floored_two_by_two_block_means() -> None:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    want = images.reshape(3, 14, 2, 14, 2).astype(np.int64).sum(axis=(2, 4)) // 4
    got = thumbnails(images)
    assert got.dtype == np.uint8 and got.shape == (3, 196)
    assert np.array_equal(got, want.reshape(3, 196))


def test_thumbnails_of_small_images_are_zero_padded() -> None:
    img = np.arange(35, dtype=np.uint8).reshape(1, 5, 7)
    got = thumbnails(img).reshape(14, 14)
    assert np.array_equal(got[:5, :7], img[0])
    assert not got[5:, :].any() and not got[:, 7:].any()


def test_thumbnail_of_one_block() -> None:
    img = np.zeros((1, 28, 28), np.uint8)
    img[0, 2:4, 6:8] = [[10, 20], [30, 41]]
    got = thumbnails(img).reshape(14, 14)
    assert got[1, 3] == 25  # (10 + 20 + 30 + 41) // 4
    assert got.sum() == 25


# ------------------------------------------------------------------------ property


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        np.uint8,
        st.tuples(st.integers(1, 4), st.integers(1, 32), st.integers(1, 32)),
        elements=st.integers(0, 255),
    )
)
@example(np.full((1, 21, 25), 255, np.uint8))  # constant and bright: float32 sums' worst case
def test_profile_matches_float64_reference(images: np.ndarray) -> None:
    table = profile_batch(make_batch(images))
    assert len(table) == len(images)
    for i, img in enumerate(images):
        want = reference(img)
        got = table.iloc[i]
        assert got["mean"] == pytest.approx(want["mean"], rel=1e-6, abs=1e-6)
        # Sums of squares are float32 sums (~1e-7 relative): the variance is off by at most
        # ~1e-7 of the mean square, so a near-constant bright image's std by up to ~0.1.
        mean_square = float((img.astype(np.float64) ** 2).mean())
        assert got["std"] == pytest.approx(want["std"], abs=1e-3 + np.sqrt(2.5e-7 * mean_square))
        assert got["ink_fraction"] == pytest.approx(want["ink_fraction"], abs=1e-6)
        assert got["midtone_fraction"] == pytest.approx(want["midtone_fraction"], abs=1e-6)
        assert got["pixel_min"] == want["pixel_min"]
        assert got["pixel_max"] == want["pixel_max"]
        assert got["border_mean"] == pytest.approx(want["border_mean"], rel=1e-6, abs=1e-4)
        assert got["com_row"] == pytest.approx(want["com_row"], abs=1e-4)
        assert got["com_col"] == pytest.approx(want["com_col"], abs=1e-4)
        assert got["bbox_height"] == want["bbox_height"]
        assert got["bbox_width"] == want["bbox_width"]
    hashes = content_hash(images)
    for i in range(len(images)):
        for j in range(len(images)):
            assert (hashes[i] == hashes[j]) == np.array_equal(images[i], images[j])
