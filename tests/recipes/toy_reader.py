"""The "add a reader" recipe, followed from outside the package: a plugin module that
registers format ``toy``.

A ``.toy`` file is text, one record per line: ``<label>,<pixels as hex>`` (two hex digits a
pixel, row-major, a square image), e.g. ``7,00ff...``. Load it with
``dataqual --plugin tests.recipes.toy_reader run --source data.toy ...``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from dataqual.errors import FormatError
from dataqual.imageset import DEFAULT_MAX_EXPANSION, SplitInfo
from dataqual.ingest import Reader, Records, register_reader
from dataqual.ingest.formats import Probe
from dataqual.ingest.reader import wrap_errors

__all__ = ["ToyReader"]


def _is_toy(probe: Probe) -> bool:
    """By name: a ``.toy`` file (priority 0: asked before the CSV sniffer, which would
    take these comma-separated lines for a CSV file)."""
    return not probe.is_dir and probe.path.suffix == ".toy"


def _lines(f: TextIO) -> Iterator[str]:
    return (line.strip() for line in f if line.strip())


@register_reader("toy", detect=_is_toy, priority=0)
class ToyReader(Reader):
    """One split, ``train``, read from a ``.toy`` file in chunks of lines."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._description = str(self._path)
        with wrap_errors(self._path, "cannot read: {exc}"), self._path.open() as f:
            first = next(_lines(f), None)
        if first is None:
            raise FormatError(self._path, "holds no records")
        side = math.isqrt(len(first.partition(",")[2]) // 2)
        if side == 0:
            raise FormatError(self._path, "first record has no pixels", record=0)
        self._shape = (side, side)

    @classmethod
    def open(
        cls, path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION, **options: Any
    ) -> ToyReader:
        return cls(path)

    def splits(self) -> list[SplitInfo]:
        return [SplitInfo("train", None, (self._path,))]

    def records(self, split: str, rows: int) -> Iterator[Records]:
        start = 0
        with wrap_errors(self._path, "cannot read: {exc}"), self._path.open() as f:
            lines = _lines(f)
            while chunk := list(islice(lines, rows)):
                yield self._parse(chunk, start)
                start += len(chunk)

    def _parse(self, lines: list[str], start: int) -> Records:
        h, w = self._shape
        labels = np.empty(len(lines), np.int64)
        images = np.empty((len(lines), h * w), np.uint8)
        for i, line in enumerate(lines):  # a toy: one Python step per record
            label, _, pixels = line.partition(",")
            with wrap_errors(self._path, "not a toy record: {exc}", record=start + i):
                labels[i] = int(label)
                images[i] = np.frombuffer(bytes.fromhex(pixels), np.uint8)
        return Records(labels=labels, images=images.reshape(-1, h, w))
