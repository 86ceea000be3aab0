"""The base every reader subclasses, and the one place low-level failures become ours.

A reader supplies what only it knows: how to open a path (:meth:`Reader.open`), its
splits, shape and files, its records in chunks (:meth:`Reader.records`) and, where it can
read them without the images, its labels (:meth:`Reader.labels`). The base turns the
records into :class:`~dataqual.imageset.ImageBatch` chunks of exactly ``rows`` (the last
one shorter) numbered by position, with ids ``<split>/<position>`` unless the reader gives
its own. :func:`wrap_errors` turns what the libraries raise (OSError, zlib, EOF, Arrow,
ValueError) into a :class:`~dataqual.errors.SourceError` naming the file and the record;
a SourceError raised inside passes through unchanged.

A reader is re-opened from its :class:`SourceOrigin` alone (path, format, options), so a
stage running in another process opens the same source again.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from dataqual.errors import FormatError, SourceError
from dataqual.imageset import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MAX_EXPANSION,
    ImageBatch,
    ImageSource,
    SplitInfo,
    position_ids,
)
from dataqual.ingest.split import rechunk

__all__ = ["READ_ERRORS", "Reader", "Records", "SourceOrigin", "wrap_errors"]

#: What reading a file can raise that is the file's fault, not ours.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    ValueError,
    pa.ArrowException,
)


@contextmanager
def wrap_errors(
    path: str | Path,
    problem: str | Callable[[BaseException], SourceError],
    *,
    kind: type[SourceError] = FormatError,
    record: int | None = None,
    hint: str | None = None,
    errors: tuple[type[BaseException], ...] = READ_ERRORS,
) -> Iterator[None]:
    """Turn one of ``errors`` raised inside the block into ``kind(path, problem, record=,
    hint=)``, ``{exc}`` in ``problem`` standing for the original message; or, when
    ``problem`` is a callable, into the error it makes of the exception. A
    :class:`SourceError` (already ours) passes through."""
    try:
        yield
    except SourceError:
        raise
    except errors as exc:
        if callable(problem):
            raise problem(exc) from exc
        raise kind(path, problem.format(exc=exc), record=record, hint=hint) from exc


@dataclass(frozen=True)
class Records:
    """Consecutive records of one split as a reader produces them: uint8 ``images`` (n, H,
    W), int64 ``labels``, and optionally per-row ``defects``, ``raw_min``/``raw_max`` and
    ``ids`` (None: ``<split>/<position>``)."""

    labels: np.ndarray
    images: np.ndarray
    defects: Mapping[str, np.ndarray] = field(default_factory=dict)
    raw_min: np.ndarray | None = None
    raw_max: np.ndarray | None = None
    ids: np.ndarray | None = None


@dataclass(frozen=True)
class SourceOrigin:
    """What re-opens a source anywhere: the path, the format and the options given."""

    path: Path
    format: str
    options: tuple[tuple[str, Any], ...] = ()

    def open(self) -> ImageSource:
        """The source opened again from these values alone."""
        from dataqual.ingest.sources import open_source  # the entry point sits above readers

        return open_source(self.path, self.format, **dict(self.options))


class Reader(ABC):
    """Base of every reader. Register a subclass with
    :func:`~dataqual.ingest.formats.register_reader` to make it a format."""

    #: The format name, set by ``register_reader``.
    format: ClassVar[str] = ""
    #: Keyword options :meth:`open` accepts besides ``max_expansion``.
    options: ClassVar[frozenset[str]] = frozenset()
    #: How :func:`~dataqual.ingest.sources.open_source` opened it (None when built directly).
    origin: SourceOrigin | None = None

    @classmethod
    @abstractmethod
    def open(
        cls, path: Path, *, max_expansion: float = DEFAULT_MAX_EXPANSION, **options: Any
    ) -> Reader:
        """Open the path the user gave, with the keyword options of :attr:`options`."""

    _description: str
    _shape: tuple[int, int]

    @property
    def description(self) -> str:
        """What the source is, for messages (set ``_description``, or override)."""
        return self._description

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of every image (set ``_shape``, or override)."""
        return self._shape

    @abstractmethod
    def splits(self) -> list[SplitInfo]: ...

    def files(self) -> list[Path]:
        """The files lineage hashes: by default those the splits name, each once. Override
        when a reader reads files its splits do not list, or must leave some out."""
        return list(dict.fromkeys(f for split in self.splits() for f in split.files))

    @abstractmethod
    def records(self, split: str, rows: int) -> Iterator[Records]:
        """The records of ``split`` in order, in chunks of any size (about ``rows``)."""

    def labels(self, split: str) -> np.ndarray:
        """All labels of ``split`` in stream order. This default reads the records; a
        reader that can read labels without the images overrides it."""
        parts = [r.labels for r in self.records(split, DEFAULT_BATCH_ROWS)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def chunk_rows(self, split: str, rows: int) -> int:
        """Rows per chunk for ``split`` when ``rows`` are asked for (a reader whose records
        are large may give fewer)."""
        return rows

    def check_limits(self) -> None:
        """Size checks a reader deferred until the image side was checked (called by
        ``open_source`` right after that); nothing by default."""
        return None

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        """Stream ``split`` in chunks of exactly :meth:`chunk_rows` records (the last one
        shorter)."""
        rows = self.chunk_rows(split, rows)
        yield from rechunk(self._numbered(split, rows), rows)

    def _numbered(self, split: str, rows: int) -> Iterator[ImageBatch]:
        start = 0
        for rec in self.records(split, rows):
            stop = start + len(rec.images)
            if stop == start:
                continue
            yield ImageBatch(
                split=split,
                ids=position_ids(split, start, stop) if rec.ids is None else rec.ids,
                labels=rec.labels,
                images=rec.images,
                positions=np.arange(start, stop, dtype=np.int64),
                defects=rec.defects,
                raw_min=rec.raw_min,
                raw_max=rec.raw_max,
            )
            start = stop
