"""ShardDataset: exact batches over shards, every row once, shuffling by seed, tf.data."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from dataqual.errors import ConfigError
from dataqual.train.data import ShardDataset
from tests.helpers import make_shards, random_images

SHAPE = (4, 5)
N = 23
X = random_images(N, SHAPE, seed=20, ink=0.7)
Y = np.arange(N, dtype=np.uint8)  # label = source position: identifies each row


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """23 train rows in shards of 7, 7, 7, 2 and 3 test rows."""
    folder = tmp_path_factory.mktemp("train-data") / "shards"
    return make_shards(
        folder, X, Y, random_images(3, SHAPE, seed=21), np.array([1, 0, 1]), shard_rows=7
    )


def dataset(shards: Path, **kwargs: int) -> ShardDataset:
    # small record batches and windows, so batches straddle record batches and shards
    return ShardDataset(shards, "train", **{"read_rows": 3, "shuffle_window": 2, **kwargs})


def collect(batches: object) -> tuple[list[int], np.ndarray, np.ndarray]:
    sizes, xs, ys = [], [], []
    for x, y in batches:  # type: ignore[attr-defined]
        sizes.append(len(x))
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return sizes, np.concatenate(xs), np.concatenate(ys)


def assert_rows_once(x: np.ndarray, y: np.ndarray) -> None:
    """Each source row exactly once, its image still attached to its label."""
    assert sorted(y.tolist()) == list(range(N))
    restored = np.rint(x * 255).astype(np.uint8) if x.dtype == np.float32 else x
    assert np.array_equal(restored, X.reshape(N, -1)[y])


def test_sizes(shards: Path) -> None:
    ds = dataset(shards)
    assert [s.rows for s in ds.manifest.shards if s.split == "train"] == [7, 7, 7, 2]
    assert (ds.rows, ds.features, ds.steps(5), ds.steps(23), ds.steps(1)) == (23, 20, 5, 1, 23)
    assert ShardDataset(shards, "test").rows == 3


def test_unknown_split(shards: Path) -> None:
    with pytest.raises(ConfigError, match=r"no split 'val'; splits are \['test', 'train'\]"):
        ShardDataset(shards, "val")


@pytest.mark.parametrize("batch_size", [1, 5, 7, 23, 50])
def test_batches_in_order(shards: Path, batch_size: int) -> None:
    sizes, x, y = collect(dataset(shards).batches(batch_size))
    full, rest = divmod(N, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest else [])
    assert y.tolist() == list(range(N))  # unshuffled: source order
    assert x.dtype == np.float32 and x.shape == (N, 20)
    assert np.array_equal(x, X.reshape(N, -1).astype(np.float32) / np.float32(255))
    assert x.min() >= 0 and x.max() <= 1
    assert x.max() == 1.0  # 255 maps to exactly 1


def test_unscaled_batches_are_the_stored_bytes(shards: Path) -> None:
    _, x, y = collect(dataset(shards).batches(6, scale=False))
    assert x.dtype == np.uint8
    assert x.tobytes() == X.reshape(N, -1).tobytes()
    assert y.dtype == np.int64


def test_shuffled_batches_cover_every_row_once(shards: Path) -> None:
    orders = {}
    for seed in (0, 1, 2):
        sizes, x, y = collect(dataset(shards).batches(5, shuffle=True, seed=seed))
        assert sizes == [5, 5, 5, 5, 3]
        assert_rows_once(x, y)
        orders[seed] = y.tolist()
    assert len({tuple(o) for o in orders.values()}) == 3  # a different order per seed
    assert orders[0] != list(range(N))
    _, _, again = collect(dataset(shards).batches(5, shuffle=True, seed=1))
    assert again.tolist() == orders[1]  # and the same order for the same seed


def test_epochs_continue_with_a_new_order(shards: Path) -> None:
    ds = dataset(shards)
    steps = ds.steps(5)
    stream = ds.epochs(5, seed=3)
    first = collect(itertools.islice(stream, steps))
    second = collect(itertools.islice(stream, steps))
    assert first[0] == second[0] == [5, 5, 5, 5, 3]  # each epoch ends with its short batch
    assert_rows_once(*first[1:])
    assert_rows_once(*second[1:])
    assert first[2].tolist() != second[2].tolist()
    # epoch k is the shuffled pass with seed + k
    assert second[2].tolist() == collect(ds.batches(5, shuffle=True, seed=4))[2].tolist()
    third = next(stream)  # and it goes on
    assert len(third[0]) == 5


def test_to_tf_yields_the_same_rows(shards: Path) -> None:
    ds = dataset(shards)
    sizes, x, y = collect((a.numpy(), b.numpy()) for a, b in ds.to_tf(5))
    assert sizes == [5, 5, 5, 5, 3]
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert y.tolist() == list(range(N))
    assert_rows_once(x, y)
    sizes, x, y = collect((a.numpy(), b.numpy()) for a, b in ds.to_tf(4, shuffle=True, seed=9))
    assert sizes == [4, 4, 4, 4, 4, 3]
    assert_rows_once(x, y)
    assert y.tolist() != list(range(N))
