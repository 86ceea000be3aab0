"""Streaming helpers: read ahead in a thread, and keep small datasets for a second pass.

Decompression (zlib) and Parquet encoding release the GIL, so on two cores reading the next
chunk while the current one is profiled or written hides most of the reading time.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from dataqual.imageset import DEFAULT_BATCH_ROWS, ImageBatch, ImageSource, SplitInfo
from dataqual.progress import check_cancelled

__all__ = ["MAX_DEFAULT_WORKERS", "MemoizedSource", "default_workers", "ordered_map", "prefetch"]

T = TypeVar("T")
R = TypeVar("R")

#: Most threads :func:`default_workers` gives: past this, chunk-parallel NumPy work stops
#: gaining and memory (one chunk in flight per thread) keeps growing.
MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """Threads for chunk-parallel NumPy work: the cores this process may use, at most 8
    (the default of ``RunConfig.workers``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_DEFAULT_WORKERS, cores or 1))


_DONE = object()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order while a thread produces up to ``depth`` items ahead.

    An exception in the producer is raised in the consumer at the same position. Stopping
    early (closing the generator) stops the producer after its current item.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(_Failure(exc))

    worker = threading.Thread(target=produce, name="dataqual-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            check_cancelled()  # an interrupted run stops within one chunk
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class MemoizedSource:
    """An :class:`~dataqual.imageset.ImageSource` that keeps its decoded chunks for the
    second pass when the whole dataset fits in ``limit_bytes``; bigger ones stream again.

    A run reads its source twice (profile, then store); decoding a small dataset once saves
    the second decompression and costs one copy of the images, never more.
    """

    def __init__(self, source: ImageSource, limit_bytes: int) -> None:
        self._source = source
        self._limit = limit_bytes
        self._cached: dict[tuple[str, int], list[ImageBatch]] = {}
        self._bytes = 0

    def __getattr__(self, name: str) -> object:  # description, shape, splits, files, labels...
        return getattr(self._source, name)

    @property
    def description(self) -> str:
        return self._source.description

    @property
    def shape(self) -> tuple[int, int]:
        return self._source.shape

    def splits(self) -> list[SplitInfo]:
        return self._source.splits()

    def files(self) -> list[Path]:
        return self._source.files()

    def iter_batches(self, split: str, rows: int = DEFAULT_BATCH_ROWS) -> Iterator[ImageBatch]:
        key = (split, rows)
        if key in self._cached:
            yield from self._cached[key]
            return
        kept: list[ImageBatch] | None = [] if self._bytes < self._limit else None
        size = 0
        for batch in self._source.iter_batches(split, rows):
            if kept is not None:
                size += batch.images.nbytes
                if self._bytes + size <= self._limit:
                    kept.append(batch)
                else:
                    kept = None
            yield batch
        if kept is not None:
            self._cached[key] = kept
            self._bytes += size


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 2) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, in order, with at most ``workers`` items in
    flight (so memory stays bounded). Worth it for NumPy-heavy ``fn``, which releases the GIL."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dataqual-map") as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            check_cancelled()
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
