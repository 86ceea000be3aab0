"""Property-based tests: any bytes either read as a valid image set or raise our error.

Nothing else may escape the IDX and CSV readers: no IndexError, no pyarrow or zlib
exception, no MemoryError from a header that lies.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dataqual.errors import DataqualError
from dataqual.imageset import MISSING_LABEL, ImageBatch
from dataqual.ingest.sources import open_source

from .writers import idx_bytes

#: More examples for a bug hunt: DATAQUAL_HYPOTHESIS_EXAMPLES=5000 pytest ...
SETTINGS = settings(
    max_examples=int(os.environ.get("DATAQUAL_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _read_everything(path: Path, **options: object) -> list[ImageBatch]:
    """Open and stream every split; check the invariants of what comes out."""
    source = open_source(path, **options)
    h, w = source.shape
    out = []
    for info in source.splits():
        ids: list[str] = []
        for batch in source.iter_batches(info.name, 3):
            assert batch.images.dtype == np.uint8 and batch.images.shape[1:] == (h, w)
            assert batch.labels.dtype == np.int64 and (batch.labels >= MISSING_LABEL).all()
            for counts in batch.defects.values():
                assert len(counts) == len(batch) and (counts >= 0).all()
            ids += batch.ids.tolist()
            out.append(batch)
        assert len(set(ids)) == len(ids)
        if info.declared_rows is not None:
            assert info.declared_rows == len(ids)
    return out


def _outcome(path: Path, **options: object) -> list[ImageBatch] | DataqualError:
    try:
        result = _read_everything(path, **options)
    except DataqualError as exc:  # anything else fails the test
        assert str(path.name) in str(exc) or str(path.parent) in str(exc)
        event(type(exc).__name__)
        return exc
    event("read")
    return result


# --------------------------------------------------------------------------------- IDX

_dims = st.tuples(st.integers(0, 6), st.integers(0, 5), st.integers(0, 5))
_idx_header = st.builds(
    lambda zero, code, ndim, dims: (
        struct.pack(">HBB", zero, code, ndim) + b"".join(struct.pack(">I", d) for d in dims[:ndim])
    ),
    st.sampled_from([0, 0, 0, 1]),
    st.sampled_from([8, 8, 8, 9, 13]),
    st.sampled_from([3, 3, 1, 0, 4]),
    _dims,
)
_idx_file = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda head, tail: head + tail, _idx_header, st.binary(max_size=200)),
    st.builds(
        lambda a, cut: idx_bytes(a)[: len(idx_bytes(a)) - cut],
        st.integers(0, 4).flatmap(lambda n: st.just(np.zeros((n, 3, 3), np.uint8))),
        st.integers(0, 3),
    ),
)


@st.composite
def _idx_pair(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A valid image/label pair, then maybe one byte changed or the tail cut, or two
    arbitrary files."""
    if draw(st.booleans()):
        return draw(_idx_file), draw(_idx_file)
    n, hh, ww = draw(st.integers(0, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    images = bytearray(idx_bytes(np.full((n, hh, ww), draw(st.integers(0, 255)), np.uint8)))
    labels = bytearray(idx_bytes(np.arange(n, dtype=np.uint8)))
    target = draw(st.sampled_from([images, labels]))
    action = draw(st.sampled_from(["none", "none", "none", "flip", "cut", "append"]))
    if action == "flip":
        target[draw(st.integers(0, len(target) - 1))] ^= draw(st.integers(1, 255))
    elif action == "cut":
        del target[len(target) - draw(st.integers(1, len(target))) :]
    elif action == "append":
        target += draw(st.binary(min_size=1, max_size=4))
    return bytes(images), bytes(labels)


@SETTINGS
@given(
    pair=_idx_pair(),
    gz_images=st.booleans(),
    gz_labels=st.booleans(),
    cut_gz=st.sampled_from([0, 0, 0, 1, 4, 9]),
)
def test_idx_any_bytes(
    pair: tuple[bytes, bytes], gz_images: bool, gz_labels: bool, cut_gz: int
) -> None:
    images, labels = pair
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, raw, gz in (
            ("train-images-idx3-ubyte", images, gz_images),
            ("train-labels-idx1-ubyte", labels, gz_labels),
        ):
            if gz:
                packed = gzip.compress(raw, mtime=0)
                (folder / f"{name}.gz").write_bytes(packed[: len(packed) - cut_gz])
            else:
                (folder / name).write_bytes(raw)
        result = _outcome(folder)
        if not isinstance(result, DataqualError):
            assert sum(len(b) for b in result) == struct.unpack(">I", images[4:8])[0]


# --------------------------------------------------------------------------------- CSV

_cell = st.one_of(
    st.integers(-300, 600).map(str),
    st.sampled_from(["", "nan", "NaN", "inf", "abc", " 3 ", "1.5", "2e2", '"7"', "-0", "+4"]),
)
_row = st.lists(_cell, min_size=0, max_size=7).map(",".join)
_ragged = st.lists(_row, max_size=8)
_even = st.sampled_from([2, 4, 5]).flatmap(  # same column count in every row
    lambda k: st.lists(st.lists(_cell, min_size=k, max_size=k).map(",".join), max_size=8)
)
_csv_text = st.one_of(_ragged, _even, _even).map(lambda rows: "\n".join(rows) + "\n")
_csv_bytes = st.one_of(
    _csv_text.map(str.encode),
    st.binary(max_size=300),
    st.builds(
        lambda a, b, c: a + b + c,
        _csv_text.map(str.encode),
        st.binary(max_size=8),
        _csv_text.map(str.encode),
    ),
    st.sampled_from([b"label,pixel0,pixel1,pixel2,pixel3\n", b"label,1x1,1x2,2x1,2x2\n"]).flatmap(
        lambda head: _csv_text.map(lambda t: head + t.encode())
    ),
)


@SETTINGS
@given(
    raw=_csv_bytes,
    gz=st.booleans(),
    cut=st.sampled_from([0, 0, 0, 1, 6]),
    shape=st.sampled_from([None, None, (2, 2), (1, 3)]),
)
def test_csv_any_bytes(raw: bytes, gz: bool, cut: int, shape: tuple[int, int] | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("train.csv.gz" if gz else "train.csv")
        if gz:
            packed = gzip.compress(raw, mtime=0)
            raw = packed[: len(packed) - cut]
        path.write_bytes(raw)
        options: dict[str, object] = {"format": "csv"}
        if shape is not None:
            options["shape"] = shape
        _outcome(path, **options)


@SETTINGS
@given(
    values=st.lists(
        st.lists(
            st.one_of(
                st.integers(-500, 800),
                st.floats(-1e3, 1e3, allow_nan=False).map(lambda f: round(f, 2)),
                st.none(),
            ),
            min_size=4,
            max_size=4,
        ),
        min_size=1,
        max_size=12,
    ),
    labels=st.lists(st.integers(0, 9), min_size=12, max_size=12),
)
def test_csv_cleaning_matches_numpy(
    values: list[list[float | int | None]], labels: list[int]
) -> None:
    """Well-formed rows: images, defect counts and raw ranges are exactly the clean-up of
    the source numbers (a row of values in 0..1 with a fraction is a float image: scaled
    by 255 and counted as ``rescaled``, not out of range)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.csv"
        lines = [
            ",".join([str(labels[i])] + ["" if v is None else str(v) for v in row])
            for i, row in enumerate(values)
        ]
        path.write_text("\n".join(lines) + "\n")
        batches = _read_everything(path, shape=(2, 2))
        got_images = np.concatenate([b.images for b in batches]).reshape(len(values), 4)
        src = np.array([[np.nan if v is None else float(v) for v in row] for row in values])
        finite = ~np.isnan(src)
        plain = np.nan_to_num(src)
        unit = np.array(
            [
                any(v != round(v) for v in row[ok])
                and bool(np.all((row[ok] >= 0) & (row[ok] <= 1)))
                for row, ok in zip(src, finite, strict=True)
            ]
        )
        scaled = np.where(unit[:, None], plain * 255, plain)
        fixed = np.clip(np.rint(scaled), 0, 255)
        assert np.array_equal(got_images, fixed.astype(np.uint8))
        missing = np.concatenate([b.defects["missing_pixels"] for b in batches])
        oor = np.concatenate([b.defects["pixels_out_of_range"] for b in batches])
        rescaled = np.concatenate([b.defects["rescaled"] for b in batches])
        assert missing.tolist() == (~finite).sum(1).tolist()
        assert rescaled.tolist() == unit.astype(int).tolist()
        expected_oor = np.where(unit, 0, (finite & (fixed != plain)).sum(1))
        assert oor.tolist() == expected_oor.tolist()
        assert np.concatenate([b.labels for b in batches]).tolist() == labels[: len(values)]
