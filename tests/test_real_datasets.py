"""Acceptance on real MNIST and Fashion-MNIST from ../shared/datasets: exact shards, accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataqual.config import RunConfig
from dataqual.ingest import open_source
from dataqual.run import run_pipeline
from dataqual.store.manifest import Manifest
from dataqual.store.schema import table_images
from dataqual.train.trainer import TrainConfig, train_from_shards

pytestmark = pytest.mark.slow

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_run(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mnist") / "out"
    outcome = run_pipeline(RunConfig(source=mnist_dir, out=out, train=False))
    assert outcome.status == "passed", json.loads((out / "validation.json").read_text())["blocking"]
    return out


def test_shards_hold_exactly_the_source(mnist_run: Path, mnist_dir: Path) -> None:
    manifest = Manifest.load(mnist_run / "shards")
    assert manifest.verify(mnist_run / "shards") == []
    assert {k: v.rows for k, v in manifest.splits.items()} == {"train": 60000, "test": 10000}
    assert [manifest.splits["train"].label_counts[str(c)] for c in range(10)] == TRAIN_COUNTS
    assert [manifest.splits["test"].label_counts[str(c)] for c in range(10)] == TEST_COUNTS
    assert manifest.lineage.dataset == "mnist"
    source = open_source(mnist_dir)
    for split in ("train", "test"):
        table = pq.read_table(mnist_run / "shards" / split)
        expected = next(source.iter_batches(split, 100_000))
        assert table.column("id").to_pylist() == expected.ids.tolist()  # id order = source order
        assert np.array_equal(table_images(table, 28, 28), expected.images)
        assert np.array_equal(table.column("label").to_numpy(), expected.labels)


def test_clean_mnist_removes_nothing(mnist_run: Path) -> None:
    validation = json.loads((mnist_run / "validation.json").read_text())
    assert validation["counts"]["quarantined"] == 0
    assert pq.read_metadata(mnist_run / "quarantine.parquet").num_rows == 0


def test_seed_model_reaches_98_percent_in_10_epochs_from_shards(
    mnist_run: Path, tmp_path: Path
) -> None:
    result = train_from_shards(
        mnist_run / "shards", tmp_path, TrainConfig(epochs=10), validation_passed=True
    )
    assert result.metrics["epochs"] == 10
    assert result.metrics["test_accuracy"] >= 0.98, result.metrics


def test_fashion_mnist_by_name_from_the_mirror(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    out = tmp_path / "out"
    outcome = run_pipeline(
        RunConfig(
            dataset="fashion-mnist",
            mirror=shared,
            cache_dir=tmp_path / "cache",
            out=out,
            train=False,
        )
    )
    run = json.loads((out / "run.json").read_text())
    assert run["dataset"] == "fashion-mnist"
    assert outcome.status == "passed" and outcome.exit_code == 0
    manifest = Manifest.load(out / "shards")
    quarantine = pq.read_table(out / "quarantine.parquet")
    removed = quarantine.column("split").to_pylist()
    # Every row is accounted for: stored, or quarantined with its reasons.
    assert manifest.splits["test"].rows == 10000 and "test" not in removed
    assert manifest.splits["train"].rows + removed.count("train") == 60000
    # Fashion-MNIST's training set holds copies of test images: only those are removed.
    reasons = {r for rs in quarantine.column("reasons").to_pylist() for r in rs}
    assert reasons <= {"leakage", "near_leakage", "exact_duplicate"}
    assert (tmp_path / "cache" / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()
