"""Deterministic, stratified train/test split of a single-split source, plus the small
helpers every reader shares for naming, ordering and re-chunking splits.

A source that arrives as one table (a single CSV, Parquet or npz file, an image folder
without split folders) gets its test split from a declared :class:`SplitSpec`: the same
seed and ratio always give the same rows in the same split, on any machine.

Ids of a re-split source become ``<new split>/<rest of the original id>``: for sources
whose ids are ``<split>/<position>`` that is ``<new split>/<original position>``, and an
image folder keeps its path (``test/<label>/<file>``). ``positions`` stay the original ones,
so every row can be traced back to the record it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dataqual.errors import ConfigError, SourceError
from dataqual.imageset import DEFAULT_BATCH_ROWS, ImageBatch, ImageSource, SplitInfo

__all__ = [
    "SplitSpec",
    "StratifiedSplitSource",
    "concat_batches",
    "natural_key",
    "order_splits",
    "rechunk",
    "split_from_name",
]

_WORD_SPLITS = re.compile(r"(?:^|[^a-z])(val|valid|validation)(?:[^a-z]|$)")


def split_from_name(name: str, default: str = "train") -> str:
    """Split named by a file or folder name: ``train`` / ``test`` (``t10k``) / ``val`` when the
    name contains it, else ``default``."""
    low = name.lower()
    if "train" in low:
        return "train"
    if "test" in low or "t10k" in low:
        return "test"
    if _WORD_SPLITS.search(low):
        return "val"
    return default


def order_splits(names: Iterable[str]) -> list[str]:
    """Splits in the order every source reports them: train, test, then the rest by name."""
    return sorted(set(names), key=lambda s: (s != "train", s != "test", s))


_ASCII_DIGITS = re.compile(r"([0-9]+)")

_NaturalKey = tuple[tuple[tuple[int, str] | tuple[int, int, str], ...], str]


def natural_key(name: str) -> _NaturalKey:
    """Sort key that orders ``2.png`` before ``10.png`` and ``part-9`` before ``part-10``.

    Only ASCII digit runs count as numbers (``²`` or ``٣`` pass ``str.isdigit`` but are
    text here), compared by length once leading zeros are gone, then by their digits: no
    ``int()`` is called, so no name can make it raise. The name itself breaks ties
    (``01`` / ``1``), so distinct names never compare equal and the order is total.
    """
    parts = _ASCII_DIGITS.split(name)  # odd indices are the digit runs
    tokens = tuple(
        (0, len(t.lstrip("0")), t.lstrip("0")) if i % 2 else (1, t)
        for i, t in enumerate(parts)
        if t
    )
    return tokens, name


def concat_batches(batches: Sequence[ImageBatch]) -> ImageBatch:
    """One batch holding the rows of ``batches`` (all of one split and shape) in order.

    A defect counter missing from some batches counts 0 there; ``raw_min``/``raw_max``
    missing from some batches are taken from their images.
    """
    if len(batches) == 1:
        return batches[0]
    names = sorted({k for b in batches for k in b.defects})
    has_raw = any(b.raw_min is not None for b in batches)

    def raw(b: ImageBatch, attr: str) -> np.ndarray:
        value = getattr(b, attr)
        if value is not None:
            return value.astype(np.float64, copy=False)
        reduce = np.min if attr == "raw_min" else np.max
        return reduce(b.images, axis=(1, 2)).astype(np.float64) if len(b) else np.zeros(0)

    return ImageBatch(
        split=batches[0].split,
        ids=np.concatenate([b.ids for b in batches]),
        labels=np.concatenate([b.labels for b in batches]),
        images=np.concatenate([b.images for b in batches]),
        positions=np.concatenate([b.positions for b in batches]),
        defects={
            k: np.concatenate([b.defects.get(k, np.zeros(len(b), np.int32)) for b in batches])
            for k in names
        },
        raw_min=np.concatenate([raw(b, "raw_min") for b in batches]) if has_raw else None,
        raw_max=np.concatenate([raw(b, "raw_max") for b in batches]) if has_raw else None,
    )


def rechunk(batches: Iterable[ImageBatch], rows: int) -> Iterator[ImageBatch]:
    """Re-cut a stream of batches of any sizes into batches of exactly ``rows`` (the last
    one shorter), holding at most about two chunks in memory. A batch of exactly ``rows``
    arriving on a chunk boundary passes through untouched."""
    buf: list[ImageBatch] = []
    size = 0
    for batch in batches:
        if not len(batch):
            continue
        if not buf and len(batch) == rows:
            yield batch
            continue
        buf.append(batch)
        size += len(batch)
        while size >= rows:
            whole = concat_batches(buf)
            yield whole.rows(0, rows)
            rest = whole.rows(rows, size)
            buf, size = ([rest], len(rest)) if len(rest) else ([], 0)
    if size:
        yield concat_batches(buf)


def _labels(source: ImageSource, split: str) -> np.ndarray:
    return np.asarray(source.labels(split), dtype=np.int64)


class SplitSpec(BaseModel):
    """A declared, reproducible split: ``test_fraction`` of every class goes to ``test``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    test_fraction: float = Field(gt=0.0, lt=1.0, description="share of each class put in test")
    seed: int = Field(description="seed of the random permutation; same seed, same split")

    def assign(self, labels: np.ndarray) -> np.ndarray:
        """Boolean mask, True where a row goes to test: per class (a missing label is a
        class of its own), ``round(count * test_fraction)`` rows chosen by a seeded
        permutation. Vectorised: one lexsort, no loop over classes."""
        labels = np.asarray(labels, dtype=np.int64)
        n = len(labels)
        keys = np.random.default_rng(self.seed).random(n)
        order = np.lexsort((keys, labels))
        _, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
        cls = np.repeat(np.arange(len(counts)), counts)
        rank = np.arange(n) - starts[cls]
        n_test = np.rint(counts * self.test_fraction).astype(np.int64)
        is_test = np.empty(n, dtype=bool)
        is_test[order] = rank < n_test[cls]
        return is_test


class StratifiedSplitSource:
    """A single-split source cut into ``train`` and ``test`` by a :class:`SplitSpec`.

    The labels are read once (cheaply where the source can) to assign rows; each split
    then streams the underlying source and keeps its rows, re-chunked to ``rows``.
    """

    SPLITS = ("train", "test")

    def __init__(self, source: ImageSource, spec: SplitSpec) -> None:
        splits = source.splits()
        if len(splits) != 1:
            names = ", ".join(s.name for s in splits)
            raise ConfigError(
                f"{source.description}: a split spec applies to a source with one split, "
                f"this one has {len(splits)} ({names}); drop the split option"
            )
        self._source = source
        self._spec = spec
        self._from = splits[0].name
        self._is_test: np.ndarray | None = None

    @property
    def spec(self) -> SplitSpec:
        return self._spec

    @property
    def description(self) -> str:
        return (
            f"{self._source.description} (split {self._from!r}: test_fraction="
            f"{self._spec.test_fraction}, seed={self._spec.seed})"
        )

    @property
    def shape(self) -> tuple[int, int]:
        return self._source.shape

    def files(self) -> list[Path]:
        return self._source.files()

    def _assignment(self) -> np.ndarray:
        if self._is_test is None:
            self._is_test = self._spec.assign(_labels(self._source, self._from))
        return self._is_test

    def labels(self, split: str) -> np.ndarray:
        """Labels of ``train`` or ``test`` in stream order, without reading images."""
        self._check(split)
        all_labels = _labels(self._source, self._from)
        return all_labels[self._assignment() == (split == "test")]

    def splits(self) -> list[SplitInfo]:
        is_test = self._assignment()
        files = tuple(self._source.files())
        n_test = int(is_test.sum())
        return [SplitInfo("train", len(is_test) - n_test, files), SplitInfo("test", n_test, files)]

    def _check(self, split: str) -> None:
        if split not in self.SPLITS:
            raise ConfigError(f"{self.description}: no split {split!r}; splits are train, test")

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Stream one of the new splits in chunks of exactly ``rows`` (the last shorter)."""
        self._check(split)
        yield from rechunk(self._select(split, rows), rows)

    def _select(self, split: str, rows: int) -> Iterator[ImageBatch]:
        is_test = self._assignment()
        want = split == "test"
        offset = 0
        for batch in self._source.iter_batches(self._from, rows):
            stop = offset + len(batch)
            if stop > len(is_test):
                raise SourceError(
                    self._source.description,
                    f"holds more than the {len(is_test)} rows counted when the split was assigned",
                    hint="was it changed while being read?",
                )
            part = batch.take(np.flatnonzero(is_test[offset:stop] == want))
            offset = stop
            ids = part.ids.astype(str)
            _head, sep, rest = np.char.partition(ids, "/").T if len(ids) else (ids, ids, ids)
            new_ids = np.char.add(f"{split}/", np.where(sep == "/", rest, ids))
            yield ImageBatch(
                split=split,
                ids=new_ids,
                labels=part.labels,
                images=part.images,
                positions=part.positions,
                defects=part.defects,
                raw_min=part.raw_min,
                raw_max=part.raw_max,
            )
        if offset != len(is_test):
            raise SourceError(
                self._source.description,
                f"holds {offset} rows, {len(is_test)} were counted when the split was assigned",
                hint="was it changed while being read?",
            )
