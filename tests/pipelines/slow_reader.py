"""A plugin reader whose records trickle in, so a test can interrupt a run mid-stage.

A ``.slow`` file is JSON: ``{"rows": N, "delay": SECONDS, "marker": PATH}``. Reading yields
``N`` seeded 28x28 images in chunks of 50, sleeping ``delay`` before each chunk, and touches
``marker`` when a pass over the records begins (profiling is the first full pass). Load it
with ``dataqual --plugin tests.pipelines.slow_reader run --source x.slow ...`` (only there:
importing this module registers the format in the importing process).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dataqual.imageset import DEFAULT_MAX_EXPANSION, SplitInfo
from dataqual.ingest import Reader, Records, register_reader

__all__ = ["SlowReader"]

_CHUNK = 50


@register_reader("slow", detect=lambda probe: probe.path.suffix == ".slow", priority=0)
class SlowReader(Reader):
    """One split, ``train``, of seeded images that arrive ``delay`` seconds a chunk."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._description = str(self._path)
        spec = json.loads(self._path.read_text())
        self._rows, self._delay = int(spec["rows"]), float(spec["delay"])
        self._marker = Path(spec["marker"])
        self._shape = (28, 28)

    @classmethod
    def open(
        cls, path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION, **options: Any
    ) -> SlowReader:
        return cls(path)

    def splits(self) -> list[SplitInfo]:
        return [SplitInfo("train", self._rows, (self._path,))]

    def records(self, split: str, rows: int) -> Iterator[Records]:
        self._marker.touch()
        rng = np.random.default_rng(0)
        for start in range(0, self._rows, _CHUNK):
            time.sleep(self._delay)
            n = min(_CHUNK, self._rows - start)
            images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            yield Records(labels=rng.integers(0, 10, size=n), images=images)
