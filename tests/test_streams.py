"""Read-ahead and the second-pass memo of small sources."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from dataqual.ingest import open_source
from dataqual.streams import MemoizedSource, prefetch
from tests.helpers import make_idx_dataset


def test_prefetch_keeps_order_and_runs_ahead_in_another_thread() -> None:
    threads: list[str] = []

    def produce():
        for i in range(50):
            threads.append(threading.current_thread().name)
            yield i

    assert list(prefetch(produce(), depth=3)) == list(range(50))
    assert set(threads) == {"dataqual-prefetch"}


def test_prefetch_reraises_the_producers_error_at_its_position() -> None:
    def produce():
        yield 1
        yield 2
        raise ValueError("record 3 is broken")

    got = []
    with pytest.raises(ValueError, match="record 3 is broken"):
        for item in prefetch(produce()):
            got.append(item)
    assert got == [1, 2]


def test_prefetch_stops_the_producer_when_the_consumer_stops() -> None:
    produced = []

    def produce():
        for i in range(10_000):
            produced.append(i)
            yield i

    stream = prefetch(produce(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert len(produced) <= 3 + 2 + 1  # consumed + queue depth + the one in hand


class CountingSource:
    """Wraps a source and counts how often each split is streamed."""

    def __init__(self, source) -> None:
        self.source = source
        self.streams = 0

    def __getattr__(self, name):
        return getattr(self.source, name)

    def iter_batches(self, split, rows=32768):
        self.streams += 1
        yield from self.source.iter_batches(split, rows)


@pytest.fixture
def source(tmp_path: Path) -> CountingSource:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    make_idx_dataset(tmp_path, images, np.arange(40) % 10)
    return CountingSource(open_source(tmp_path))


def _stream(src, rows: int = 16) -> list[np.ndarray]:
    return [b.images for b in src.iter_batches("train", rows)]


def test_memo_replays_a_small_source_without_reading_it_again(source: CountingSource) -> None:
    memo = MemoizedSource(source, limit_bytes=10**6)
    first, second = _stream(memo), _stream(memo)
    assert source.streams == 1
    assert len(first) == 3 and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert memo.shape == (28, 28) and memo.files() == source.files()


def test_memo_streams_again_when_the_source_is_over_the_limit(source: CountingSource) -> None:
    memo = MemoizedSource(source, limit_bytes=20 * 784)  # half the images
    first, second = _stream(memo), _stream(memo)
    assert source.streams == 2
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_memo_does_not_keep_a_pass_that_stopped_early(source: CountingSource) -> None:
    memo = MemoizedSource(source, limit_bytes=10**6)
    next(iter(memo.iter_batches("train", 16)))
    assert len(_stream(memo)) == 3
    assert source.streams == 2
