"""Errors found mid-stream, after good records were already handed out (issue 9, item 5).

Each case iterates every batch of the opened source, as a run does, and checks the
exception type and that its message names the file and the record. Image trees are the
exception by design: a PNG that fails to decode is a record, not an error (an all-zero
``unreadable`` row whose id names the file, which validation quarantines), so the stream
goes on.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.ingest.sources import open_source

from .writers import write_csv, write_idx, write_images

RNG = np.random.default_rng(9)


def _drain(path: Path, rows: int, **options: object) -> tuple[int, SourceError]:
    """Rows read before the stream failed, and the error it failed with."""
    source = open_source(path, **options)
    read = 0
    with pytest.raises(SourceError) as info:
        for split in source.splits():
            for batch in source.iter_batches(split.name, rows):
                read += len(batch)
    return read, info.value


def _cut_row(path: Path, line: int, drop: int = 5, *, gz: bool = False) -> None:
    """Drop the last ``drop`` cells of physical ``line`` (1-based) of a CSV file."""
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    lines = raw.split(b"\n")
    lines[line - 1] = lines[line - 1].rsplit(b",", drop)[0]
    out = b"\n".join(lines)
    path.write_bytes(gzip.compress(out, mtime=0) if gz else out)


@pytest.mark.parametrize("gz", [False, True])
def test_csv_row_short_of_columns_at_line_18_of_30(tmp_path: Path, gz: bool) -> None:
    x = RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    path = write_csv(tmp_path / f"train.csv{'.gz' if gz else ''}", x, np.arange(30) % 10, gz=gz)
    _cut_row(path, 18, gz=gz)
    _, err = _drain(path, 4)
    assert isinstance(err, FormatError)
    assert err.path == str(path) and err.record == 17  # no header: line 18 is row 17
    assert "line 18 has 780 columns, expected 785" in str(err)
    assert str(err).startswith(f"{path}, record 17: ")


def test_csv_row_short_of_columns_after_a_header(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    path = write_csv(tmp_path / "train.csv", x, np.arange(30) % 10, header="pixel")
    _cut_row(path, 18)
    _, err = _drain(path, 4)
    assert isinstance(err, FormatError) and err.record == 16  # line 1 is the header
    assert "line 18 has 780 columns" in str(err)


def test_csv_row_short_of_columns_at_row_30000_of_60000(tmp_path: Path) -> None:
    """Deep in the file: pyarrow has parsed several blocks, and two chunks went out."""
    x = RNG.integers(0, 256, (60_000, 8, 8), dtype=np.uint8)
    path = write_csv(tmp_path / "train.csv", x, np.arange(60_000) % 10)
    _cut_row(path, 30_000, drop=3)
    read, err = _drain(path, 10_000, shape=(8, 8))
    assert isinstance(err, FormatError)
    assert err.path == str(path) and err.record == 29_999
    assert "line 30000 has 62 columns, expected 65" in str(err)
    assert 0 < read < 30_000  # failed mid-stream, never past the bad row


def _idx_images(folder: Path) -> Path:
    (path,) = folder.glob("*images*")
    return path


def test_idx_truncated_in_its_last_record_is_refused_at_open(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    folder = write_idx(tmp_path / "src", {"train": (x, np.arange(50) % 10)})
    images = _idx_images(folder)
    images.write_bytes(images.read_bytes()[:-100])  # 684 of the last record's 784 bytes
    with pytest.raises(TruncatedError) as info:
        open_source(folder)
    assert info.value.path == str(images) and info.value.record == 49
    assert f"{images}, record 49: " in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_in_its_last_record_while_streaming(tmp_path: Path, gz: bool) -> None:
    """Cut after the source was opened (headers checked): the streaming read names it."""
    x = RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    folder = write_idx(tmp_path / "src", {"train": (x, np.arange(50) % 10)}, gz=gz)
    images = _idx_images(folder)
    source = open_source(folder)
    raw = gzip.decompress(images.read_bytes()) if gz else images.read_bytes()
    images.write_bytes(gzip.compress(raw[:-100], mtime=0) if gz else raw[:-100])
    read = 0
    with pytest.raises(TruncatedError) as info:
        for batch in source.iter_batches("train", 10):
            read += len(batch)
    assert read == 40  # the four whole chunks before the cut one went out
    assert info.value.path == str(images) and info.value.record == 49
    assert f"{images}, record 49: " in str(info.value)


def test_png_failing_to_decode_after_500_good_ones_is_an_unreadable_row(tmp_path: Path) -> None:
    """Not an error: the bad file becomes one ``unreadable`` row named by its id, and every
    other image (before and after it) is read."""
    x = RNG.integers(0, 256, (520, 28, 28), dtype=np.uint8)
    root = write_images(tmp_path / "tree", {"train": (x, np.zeros(520, np.int64))}, "class")
    bad = root / "0" / "500.png"
    bad.write_bytes(bad.read_bytes()[:40])  # header kept, image data cut
    source = open_source(root)
    batches = list(source.iter_batches("train", 128))
    ids = np.concatenate([b.ids for b in batches]).tolist()
    unreadable = np.concatenate([b.defects["unreadable"] for b in batches])
    images = np.concatenate([b.images for b in batches])
    assert len(ids) == 520 and ids[500] == "train/0/500.png"
    assert np.flatnonzero(unreadable).tolist() == [500]
    assert not images[500].any()
    good = np.delete(np.arange(520), 500)
    assert np.array_equal(images[good], x[good])
