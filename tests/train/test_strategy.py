"""Device strategy: MirroredStrategy on 2 logical CPUs vs 1 replica, device choice, refusals,
TF_CONFIG, and the tf.data input's per-worker file sharding and seeded order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from dataqual.errors import ConfigError
from dataqual.train.data import ShardDataset
from dataqual.train.strategy import choose_devices, place, worker_of
from dataqual.train.trainer import TrainConfig, train_from_shards
from tests.helpers import make_shards

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: the CPU must be split before TensorFlow initialises devices.
TWO_REPLICAS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from dataqual.train.trainer import TrainConfig, train_from_shards
config = TrainConfig.model_validate_json(sys.argv[3])
result = train_from_shards(sys.argv[1], sys.argv[2], config, validation_passed=True)
print("METRICS " + json.dumps(result.metrics))
"""


def quadrants(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """4 classes on 8x8: class c brightens one 4x4 quadrant, in heavy noise, so two epochs
    reach about 0.8 (not 1.0: a broken replica setup would show)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 4).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 200, (n, 8, 8), dtype=np.uint8)
    for i, label in enumerate(labels):
        r, q = divmod(int(label), 2)
        images[i, 4 * r : 4 * r + 4, 4 * q : 4 * q + 4] = rng.integers(30, 230, (4, 4))
    return images, labels


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, y = quadrants(1024, seed=0)
    tx, ty = quadrants(400, seed=1)
    folder = tmp_path_factory.mktemp("strategy") / "shards"
    return make_shards(folder, x, y, tx, ty, shard_rows=256)  # 4 train shard files


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_replica(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, batch_size=64, seed=0)
    one = train_from_shards(shards, tmp_path / "one", config, validation_passed=True).metrics
    two_config = config.model_copy(update={"devices": "cpu:0,cpu:1"})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS, str(shards), str(tmp_path / "two"),
         two_config.model_dump_json()],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    two = json.loads(done.stdout.split("METRICS ", 1)[1])
    assert json.loads((tmp_path / "two" / "metrics.json").read_text()) == two
    assert (one["strategy"], one["replicas"], one["devices"]) == (
        "_DefaultDistributionStrategy", 1, ["cpu:0"],
    )  # fmt: skip
    assert (two["strategy"], two["replicas"], two["devices"]) == (
        "MirroredStrategy", 2, ["cpu:0", "cpu:1"],
    )  # fmt: skip
    # Tolerance: 4 points. The 0.5 points is for MNIST's 10,000 test images after
    # converging: benchmarks/bench_replicas.py measures that on the real shards (figures in
    # docs/benchmarks.md); here 400 test images (0.25 points each) after 2 epochs near 0.8, whose
    # binomial standard error is ~2 points, and the 2 replicas draw other dropout masks and
    # sum gradients in another order. A replica whose gradients were lost or double-counted
    # trains measurably worse; both runs must also be far above chance (0.25).
    assert one["test_accuracy"] > 0.6 and two["test_accuracy"] > 0.6
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 0.04
    assert two["final_train_loss"] == pytest.approx(one["final_train_loss"], rel=0.15)


def test_mixed_precision_on_cpu_is_refused(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, precision="mixed")
    with pytest.raises(ConfigError, match=r"^mixed precision needs a GPU; .*cpu:0"):
        train_from_shards(shards, tmp_path / "run", config, validation_passed=True)
    assert not (tmp_path / "run").exists()


def test_asking_for_a_missing_gpu_names_the_visible_devices() -> None:
    with pytest.raises(ConfigError, match=r"no gpu here; visible devices: cpu:0"):
        place("tensorflow", "gpu", "float32", False)  # this machine has no GPU
    with pytest.raises(ConfigError, match=r"no gpu:1 here; visible devices: gpu:0, cpu:0"):
        choose_devices("gpu:0,gpu:1", {"gpu": ["gpu:0"], "cpu": ["cpu:0"]})


def test_device_choice() -> None:
    gpus = {"gpu": ["gpu:0", "gpu:1"], "cpu": ["cpu:0"]}
    cpus = {"gpu": [], "cpu": ["cpu:0", "cpu:1"]}
    assert choose_devices("auto", gpus) == ("gpu:0", "gpu:1")  # every GPU
    assert choose_devices(" Auto ", cpus) == ("cpu:0",)  # else the CPU
    assert choose_devices("cpu", gpus) == ("cpu:0",)
    assert choose_devices("gpu", gpus) == ("gpu:0", "gpu:1")
    assert choose_devices("GPU:1, gpu:1", gpus) == ("gpu:1",)
    assert choose_devices("cpu:0,cpu:1", cpus) == ("cpu:0", "cpu:1")
    with pytest.raises(ConfigError, match="'tpu:0' is not auto, cpu, gpu or KIND:N"):
        choose_devices("tpu:0", gpus)
    with pytest.raises(ValidationError, match="devices"):
        TrainConfig(devices="tpu")
    placed = place("tensorflow", "auto", "float32", True)
    assert placed.summary() == {
        "backend": "tensorflow", "devices": ["cpu:0"], "strategy": "_DefaultDistributionStrategy",
        "replicas": 1, "workers": 1, "precision": "float32", "jit": True,
    }  # fmt: skip


def test_tf_config_names_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}
    assert worker_of(None) == (1, 0)
    assert worker_of(json.dumps({"cluster": cluster, "task": {"type": "chief"}})) == (3, 0)
    task = {"type": "worker", "index": 1}
    assert worker_of(json.dumps({"cluster": cluster, "task": task})) == (3, 2)
    with pytest.raises(ConfigError, match="TF_CONFIG is not a cluster description"):
        worker_of("{not json")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    with pytest.raises(ConfigError, match="multi-worker training needs the TensorFlow backend"):
        place("jax", "auto", "float32", False)


def labels_of(dataset: object, steps: int) -> list[int]:
    return [int(v) for _, y in dataset.take(steps) for v in y.numpy()]  # type: ignore[attr-defined]


def test_tf_input_splits_files_across_workers_in_a_seeded_order(shards: Path) -> None:
    train = ShardDataset(shards, "train", read_rows=64)
    first = labels_of(train.to_tf(64, shuffle=True, seed=3), train.steps(64))
    assert first == labels_of(train.to_tf(64, shuffle=True, seed=3), train.steps(64))
    assert first != labels_of(train.to_tf(64, shuffle=True, seed=4), train.steps(64))

    def ids(index: int) -> set[tuple[int, ...]]:
        # 4 files of 256 rows, 2 workers: each reads 2 whole files (8 batches), then repeats
        ds = train.to_tf(64, shuffle=True, seed=3, workers=(2, index))
        rows = [tuple(x) for x, _ in ds.take(8).unbatch().as_numpy_iterator()]
        assert len(set(rows)) == 512
        again = [tuple(x) for x, _ in ds.skip(8).take(8).unbatch().as_numpy_iterator()]
        assert set(again) == set(rows)  # the next pass reads the same files
        return set(rows)

    worker0, worker1 = ids(0), ids(1)
    assert not worker0 & worker1
    everything = {tuple(x) for x, _ in train.to_tf(256).unbatch().as_numpy_iterator()}
    assert worker0 | worker1 == everything
