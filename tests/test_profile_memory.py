"""Profiling memory does not grow with the image size: large images take axis reductions
in row blocks, and give the same table as the indicator-matrix path of small images."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dataqual.profile_pixels as profile_mod
from dataqual.imageset import ImageBatch, position_ids
from dataqual.profile import content_hash, profile_batch, profile_batches, thumbnails


def batch_of(images: np.ndarray) -> ImageBatch:
    n = len(images)
    return ImageBatch(
        split="train",
        ids=position_ids("train", 0, n),
        labels=np.arange(n, dtype=np.int64) % 10,
        images=images,
        positions=np.arange(n),
    )


def strokes(n: int, side: int, seed: int = 0) -> np.ndarray:
    """Random images with a bright bar and mid-tone noise, some blank."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (n, side, side), dtype=np.uint8) // 4
    img[:, side // 4 : side // 2, side // 3] = 255
    img[::5] = 0
    return img


def reference_thumbnails(images: np.ndarray, side: int = 14) -> np.ndarray:
    """Floored block means by a plain reshape (independent of both code paths)."""
    n, h, w = images.shape
    fh, fw = max(1, h // side), max(1, w // side)
    crop = images[:, : fh * side, : fw * side].astype(np.int64)
    sums = crop.reshape(n, side, fh, side, fw).sum(axis=(2, 4))
    return (sums // (fh * fw)).astype(np.uint8).reshape(n, side * side)


def test_large_image_profile_uses_no_image_sized_matrix() -> None:
    """512x512: the old indicator matrix alone was 262144 x 1026 float32 (1 GB)."""
    images = strokes(6, 512)
    tracemalloc.start()
    try:
        table = profile_batch(batch_of(images))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * images.nbytes  # 1.5 MB of pixels: a few copies, not a gigabyte
    x = images.astype(np.float64)
    np.testing.assert_allclose(table["mean"], x.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(table["std"], x.std(axis=(1, 2)), rtol=1e-5)
    rows, cols = np.arange(512), np.arange(512)
    total = x.sum(axis=(1, 2))
    inked = total > 0
    com_row = x.sum(axis=2) @ rows / np.where(inked, total, 1) - 255.5
    com_col = x.sum(axis=1) @ cols / np.where(inked, total, 1) - 255.5
    np.testing.assert_allclose(table["com_row"][inked], com_row[inked], atol=1e-3)
    np.testing.assert_allclose(table["com_col"][inked], com_col[inked], atol=1e-3)
    assert (table["com_row"][~inked] == 0).all()
    border = np.ones((512, 512), bool)
    border[1:-1, 1:-1] = False
    np.testing.assert_allclose(table["border_mean"], x[:, border].mean(axis=1), rtol=1e-6)


@pytest.mark.parametrize(("h", "w"), [(28, 28), (1, 9), (9, 1), (2, 2), (5, 7), (40, 33)])
def test_axis_reductions_give_the_same_table_as_the_matrix_product(
    h: int, w: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(h * 100 + w)
    images = rng.integers(0, 256, (50, h, w), dtype=np.uint8)
    images[:10] = 0
    images[10:20] = 255
    fast = profile_batch(batch_of(images))
    monkeypatch.setattr(profile_mod, "_REDUCER_MAX_BYTES", 0)
    general = profile_batch(batch_of(images))
    exact = [c for c in fast.columns if c != "std"]
    pd.testing.assert_frame_equal(fast[exact], general[exact])
    # the matrix path sums squares in float32 (~1e-7), the axis path per image row
    np.testing.assert_allclose(fast["std"], general["std"], rtol=1e-5, atol=1e-5)


def test_row_blocks_give_the_same_table_as_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    images = strokes(37, 28, seed=4)
    whole = profile_batch(batch_of(images))
    whole_hash = content_hash(images)
    monkeypatch.setattr(profile_mod, "_BLOCK_BYTES", 5 * 28 * 28)  # 5 rows per block
    pd.testing.assert_frame_equal(profile_batch(batch_of(images)), whole)
    assert (content_hash(images) == whole_hash).all()
    big = strokes(7, 300, seed=2)
    np.testing.assert_array_equal(thumbnails(big), reference_thumbnails(big))


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.uint8,
        st.tuples(st.integers(1, 4), st.integers(14, 90), st.integers(14, 90)),
        elements=st.integers(0, 255),
    )
)
def test_thumbnails_match_block_means_on_both_paths(images: np.ndarray) -> None:
    """Small factors take strided adds, large ones a reshape: both are floored block means."""
    np.testing.assert_array_equal(thumbnails(images), reference_thumbnails(images))


def test_profile_batches_of_1024_images_stay_bounded() -> None:
    """Two 1024x1024 images: the profile pass allocates a few image copies at most."""
    images = strokes(2, 1024, seed=9)
    tracemalloc.start()
    try:
        prof = profile_batches([batch_of(images)], (1024, 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * images.nbytes
    assert len(prof.table) == 2 and prof.thumbs.shape == (2, 196)
    np.testing.assert_array_equal(prof.thumbs, reference_thumbnails(images))
