"""Inputs that go wrong only in the middle of the stream, after preflight has passed: the
error is found inside a Prefect task, and must still reach the user as one line."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from dataqual.errors import SourceError
from tests.ingest.test_hostile import Case

RNG = np.random.default_rng(9)


def _csv_short_row(rows: int, bad_line: int) -> Callable[[Path], Path]:
    """A headerless CSV of ``rows`` rows whose line ``bad_line`` lacks pixel columns
    (written in chunks: the builder runs under the memory cap of the hostile runner)."""

    def build(tmp: Path) -> Path:
        path = tmp / "data.csv"
        with path.open("w") as out:
            for start in range(0, rows, 5000):
                n = min(5000, rows - start)
                images = RNG.integers(0, 256, (n, 784), dtype=np.uint8)
                labels = (np.arange(start, start + n) % 10).astype(np.uint8)
                lines = [",".join(map(str, row)) for row in np.column_stack([labels, images])]
                if start < bad_line <= start + n:
                    i = bad_line - 1 - start
                    lines[i] = ",".join(lines[i].split(",")[:700])
                out.write("\n".join(lines) + "\n")
        return path

    return build


def _idx_truncated_last_record(tmp: Path) -> Path:
    """IDX train/test pairs whose train images file ends 10 bytes into its last image."""
    folder = tmp / "idx"
    folder.mkdir()
    for split, n in (("train", 50), ("t10k", 20)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8).tobytes()
        if split == "train":
            images = images[: -784 + 10]
        header = struct.pack(">IIII", 0x803, n, 28, 28)
        (folder / f"{split}-images-idx3-ubyte").write_bytes(header + images)
        labels = (np.arange(n) % 10).astype(np.uint8).tobytes()
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels)
    return folder


def _png_bad_after_500(tmp: Path) -> Path:
    """A class-folder tree of 500 good PNGs then one whose data is cut short."""
    root = tmp / "pngs"
    for i in range(500):
        folder = root / str(i % 10)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(RNG.integers(0, 256, (28, 28), dtype=np.uint8)).save(
            folder / f"{i:04d}.png"
        )
    good = (root / "9" / "0499.png").read_bytes()
    (root / "9" / "9999.png").write_bytes(good[: len(good) // 2])
    return root


MIDSTREAM_CASES = [
    Case("csv-short-row-line-18-of-30", _csv_short_row(30, 18), SourceError, ("data.csv", "18")),
    Case(
        "csv-short-row-30000-of-60000",
        _csv_short_row(60_000, 30_000),
        SourceError,
        ("data.csv", "30000"),
    ),
    Case("idx-truncated-last-record", _idx_truncated_last_record, SourceError, ("train-images",)),
    # An image tree does not stop at one bad file: the row is quarantined as
    # ``unreadable_record`` with its file named, and the run goes on (exit 0 or 1).
    Case("png-bad-after-500-good", _png_bad_after_500, None, ("9999.png",)),
]
