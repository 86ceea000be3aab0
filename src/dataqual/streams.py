"""Overlap reading with computing: run an iterator one step ahead in a background thread.

Decompression (zlib) and Parquet encoding release the GIL, so on two cores reading the next
chunk while the current one is profiled or written hides most of the reading time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")
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
