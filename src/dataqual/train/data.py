"""Streaming input pipeline over Parquet shards: NumPy batches, or a ``tf.data.Dataset``.

Shards are read with pyarrow ``iter_batches`` in large record batches; images come out of
the fixed-size binary column without a copy. Shuffling is by shard order plus a vectorised
permutation inside a window of several record batches, so the whole split never needs to
be in memory. The NumPy form serves Keras on any backend (JAX on machines without
TensorFlow); the ``tf.data`` form adds prefetching and multi-worker file sharding on the
TensorFlow backend. Both give a fixed order for a given seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from dataqual.errors import ConfigError
from dataqual.store.manifest import Manifest
from dataqual.store.schema import table_images

__all__ = ["ShardDataset"]


class ShardDataset:
    """One split of a shard folder, readable as a stream of (images, labels) batches.

    ``read_rows`` is the size of the record batches read from a shard; shuffling permutes
    rows inside windows of ``shuffle_window`` of them.
    """

    def __init__(
        self, folder: Path, split: str, *, read_rows: int = 16_384, shuffle_window: int = 4
    ) -> None:
        self.folder = Path(folder)
        self.split = split
        self.read_rows = read_rows
        self.shuffle_window = shuffle_window
        self.manifest = Manifest.load(self.folder)
        if split not in self.manifest.splits:
            raise ConfigError(
                f"{self.folder}: no split {split!r}; splits are {sorted(self.manifest.splits)}"
            )

    @property
    def rows(self) -> int:
        return self.manifest.splits[self.split].rows

    @property
    def height(self) -> int:
        return self.manifest.height

    @property
    def width(self) -> int:
        return self.manifest.width

    @property
    def features(self) -> int:
        return self.manifest.height * self.manifest.width

    def shard_paths(self) -> list[Path]:
        return self.manifest.shard_paths(self.folder, self.split)

    def steps(self, batch_size: int) -> int:
        return -(-self.rows // batch_size)

    def ids(self) -> np.ndarray:
        """The row ids (strings) in the order of unshuffled :meth:`chunks` and :meth:`batches`."""
        parts = [
            pq.read_table(path, columns=["id"]).column("id").to_numpy(zero_copy_only=False)
            for path in self.manifest.shard_paths(self.folder, self.split)
        ]
        return np.concatenate(parts).astype(str) if parts else np.zeros(0, str)

    def chunks(
        self, *, shuffle: bool = False, seed: int = 0, paths: list[Path] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (uint8 (n, H*W), int64 (n,)) chunks; shuffled within windows when asked.

        ``paths`` reads only those shard files (default: all of the split's).
        """
        rng = np.random.default_rng(seed)
        paths = self.shard_paths() if paths is None else list(paths)
        if shuffle:
            paths = [paths[i] for i in rng.permutation(len(paths))]
        h, w = self.manifest.height, self.manifest.width
        window_x: list[np.ndarray] = []
        window_y: list[np.ndarray] = []
        for path in paths:
            for rb in pq.ParquetFile(path).iter_batches(
                batch_size=self.read_rows, columns=["label", "image"]
            ):
                x = table_images(rb, h, w).reshape(rb.num_rows, h * w)
                y = rb.column("label").to_numpy()
                if not shuffle:
                    yield x, y
                    continue
                window_x.append(x)
                window_y.append(y)
                if len(window_x) >= self.shuffle_window:
                    yield from _shuffled(window_x, window_y, rng)
                    window_x, window_y = [], []
        if window_x:
            yield from _shuffled(window_x, window_y, rng)

    def batches(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, scale: bool = True
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Exactly ``batch_size`` rows per batch (the last may be smaller), float32 in 0..1."""
        carry_x = np.zeros((0, self.features), np.uint8)
        carry_y = np.zeros(0, np.int64)
        for x, y in self.chunks(shuffle=shuffle, seed=seed):
            if len(carry_x):
                x, y = np.concatenate([carry_x, x]), np.concatenate([carry_y, y])
            full = len(x) // batch_size * batch_size
            for i in range(0, full, batch_size):
                yield _scaled(x[i : i + batch_size], scale), y[i : i + batch_size]
            carry_x, carry_y = x[full:], y[full:]
        if len(carry_x):
            yield _scaled(carry_x, scale), carry_y

    def epochs(self, batch_size: int, *, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless shuffled batches, a new order each epoch (for Keras ``fit`` on any backend)."""
        epoch = 0
        while True:
            yield from self.batches(batch_size, shuffle=True, seed=seed + epoch)
            epoch += 1

    def to_tf(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        workers: tuple[int, int] = (1, 0),
    ):
        """A ``tf.data.Dataset`` of (float32 images, int64 labels) batches, prefetched.

        The order is fixed by ``seed``: epoch k is the shuffled pass with ``seed + k``.
        ``workers`` (count, this worker's index) shards the input for multi-worker
        training: each worker reads every count-th shard file (file-level sharding) and the
        dataset repeats, so fit needs ``steps_per_epoch``. TensorFlow's own FILE auto-shard
        policy only finds its reader ops (TFRecord, text lines), not this Parquet source, so
        the files are split here and auto-sharding is OFF; with fewer files than workers
        the rows are split by TensorFlow instead (DATA policy). Within one worker,
        ``tf.distribute`` splits each global batch across the replicas and prefetches to
        their devices.
        """
        import tensorflow as tf

        count, index = workers
        paths = self.shard_paths()
        by_file = count > 1 and len(paths) >= count
        mine = paths[index::count] if by_file else paths
        counter = {"epoch": 0}

        def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            counter["epoch"] += 1
            yield from self.chunks(shuffle=shuffle, seed=seed + counter["epoch"], paths=mine)

        ds = tf.data.Dataset.from_generator(
            gen,
            output_signature=(
                tf.TensorSpec(shape=(None, self.features), dtype=tf.uint8),
                tf.TensorSpec(shape=(None,), dtype=tf.int64),
            ),
        ).rebatch(batch_size)
        if count > 1:
            ds = ds.repeat()
        else:
            ds = ds.apply(tf.data.experimental.assert_cardinality(self.steps(batch_size)))
        ds = ds.map(
            lambda x, y: (tf.cast(x, tf.float32) / 255.0, y),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        options = tf.data.Options()
        options.deterministic = True
        policy = tf.data.experimental.AutoShardPolicy
        options.experimental_distribute.auto_shard_policy = policy.OFF if by_file else policy.DATA
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _scaled(x: np.ndarray, scale: bool) -> np.ndarray:
    return x.astype(np.float32) / np.float32(255.0) if scale else x


def _shuffled(
    xs: list[np.ndarray], ys: list[np.ndarray], rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    order = rng.permutation(len(x))
    yield x[order], y[order]
