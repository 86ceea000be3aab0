"""npz members are streamed in bounded chunks whatever they declare: a compressed archive of
many images never inflates whole, sizes are checked against the header before any data is
read, and Fortran-ordered images are refused with a fix."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dataqual.ingest.npz as npz_mod
from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.ingest.npz import NpzSource


def write_member(
    zf: zipfile.ZipFile, key: str, shape: tuple[int, ...], body: bytes | int, dtype: str = "|u1"
) -> None:
    """``key.npy`` with a header declaring ``shape``; ``body`` bytes, or that many zeros
    written in pieces (never whole in memory)."""
    head = io.BytesIO()
    npformat.write_array_header_1_0(head, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
        f.write(head.getvalue())
        if isinstance(body, bytes):
            f.write(body)
        else:
            piece = bytes(1 << 20)
            for start in range(0, body, len(piece)):
                f.write(piece[: min(len(piece), body - start)])


def test_compressed_zero_images_stream_in_bounded_memory(tmp_path: Path) -> None:
    """200,000 zero images (157 MB inflated, ~150 KB on disk): one chunk in memory at a time."""
    n = 200_000
    path = tmp_path / "zeros.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        write_member(zf, "x_train", (n, 28, 28), n * 784)
        write_member(zf, "y_train", (n,), (np.arange(n) % 10).astype(np.uint8).tobytes())
    assert path.stat().st_size < 1 << 20
    with pytest.raises(SourceError, match="--max-expansion"):  # ~1000x: a bomb by default
        NpzSource(path)
    source = NpzSource(path, max_expansion=2000)  # raised: the streaming is what is tested
    tracemalloc.start()
    try:
        rows = nonzero = 0
        for batch in source.iter_batches("train", 16_384):
            rows += len(batch)
            nonzero += int(np.count_nonzero(batch.images))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == n and nonzero == 0
    assert peak < 4 * 16_384 * 784  # a couple of chunks, not 157 MB
    labels = source.labels("train")
    assert labels.shape == (n,) and (labels[:12] == np.arange(12) % 10).all()


def test_chunks_of_large_float_images_are_capped_by_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Float images in 0..1 are scaled and counted as rescaled, in chunks of at most
    ``_CHUNK_BYTES`` of source values even when more rows are asked for."""
    rng = np.random.default_rng(1)
    x = rng.random((9, 30, 30))
    y = np.arange(9)
    path = tmp_path / "f.npz"
    np.savez_compressed(path, x_train=x, y_train=y)
    monkeypatch.setattr(npz_mod, "_CHUNK_BYTES", 4 * 30 * 30 * 8)  # four float64 images
    batches = list(NpzSource(path).iter_batches("train", 1000))
    assert [len(b) for b in batches] == [4, 4, 1]
    images = np.concatenate([b.images for b in batches])
    np.testing.assert_array_equal(images, np.clip(np.rint(x * 255), 0, 255).astype(np.uint8))
    assert all((b.defects["rescaled"] == 1).all() for b in batches)
    assert np.concatenate([b.positions for b in batches]).tolist() == list(range(9))
    assert np.concatenate([b.labels for b in batches]).tolist() == y.tolist()


def test_fortran_ordered_images_are_refused_before_reading(tmp_path: Path) -> None:
    x = np.asfortranarray(np.zeros((50, 28, 28), np.uint8))
    path = tmp_path / "fortran.npz"
    np.savez_compressed(path, x_train=x, y_train=np.zeros(50, np.uint8))
    with pytest.raises(FormatError) as info:
        NpzSource(path)
    message = str(info.value)
    for part in ("fortran.npz", "'x_train'", "(50, 28, 28)", "Fortran", "np.ascontiguousarray"):
        assert part in message


def test_a_million_declared_images_in_a_short_member_are_refused_at_open(tmp_path: Path) -> None:
    """The zip entry's size must be what the header's shape declares: nothing is allocated
    from the claim (here 784 MB) when it holds 10 images."""
    path = tmp_path / "claim.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        write_member(zf, "x_train", (1_000_000, 28, 28), bytes(10 * 784))
        write_member(zf, "y_train", (1_000_000,), bytes(10))
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedError, match=r"'x_train'.*784000128 bytes"):
            NpzSource(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(0, 40),
    declared_extra=st.integers(-3, 3),
    extra_bytes=st.integers(-50, 50),
    rows=st.integers(1, 17),
    compressed=st.booleans(),
)
def test_declared_and_stored_sizes_either_agree_or_fail_cleanly(
    tmp_path: Path, n: int, declared_extra: int, extra_bytes: int, rows: int, compressed: bool
) -> None:
    """Any disagreement between the header's shape and the stored bytes is a SourceError
    naming the array; agreement reads back exactly the stored images."""
    rng = np.random.default_rng(n)
    x = rng.integers(0, 256, (n, 5, 6), dtype=np.uint8)
    body = x.tobytes()
    body = body[: len(body) + extra_bytes] if extra_bytes < 0 else body + bytes(extra_bytes)
    declared = max(0, n + declared_extra)
    path = tmp_path / f"p{n}_{declared_extra}_{extra_bytes}_{int(compressed)}.npz"
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as zf:
        write_member(zf, "x_train", (declared, 5, 6), body)
        write_member(zf, "y_train", (declared,), bytes(declared))
    if len(body) == declared * 5 * 6:  # e.g. no images, and "cutting" an empty body
        got = [b.images for b in NpzSource(path).iter_batches("train", rows)]
        want = np.frombuffer(body, np.uint8).reshape(declared, 5, 6)
        np.testing.assert_array_equal(np.concatenate(got) if got else want, want)
        return
    with pytest.raises(SourceError, match="'x_train'") as info:
        list(NpzSource(path).iter_batches("train", rows))
    assert path.name in str(info.value)
