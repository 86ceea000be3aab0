"""train_from_shards on a tiny, clearly separable dataset: metrics, saved model, refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataqual.errors import ValidationFailed
from dataqual.train.data import ShardDataset
from dataqual.train.trainer import TrainConfig, train_from_shards
from tests.helpers import make_shards

SHAPE = (8, 8)


def two_classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 has ink in the top half, class 1 in the bottom half; plus faint noise."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.uint8)
    images = rng.integers(0, 40, (n, *SHAPE), dtype=np.uint8)
    for i, label in enumerate(labels):
        rows = slice(4, 8) if label else slice(0, 4)
        images[i, rows] = rng.integers(180, 256, (4, 8), dtype=np.uint8)
    return images, labels


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, y = two_classes(320, seed=0)
    tx, ty = two_classes(80, seed=1)
    return make_shards(tmp_path_factory.mktemp("trainer") / "shards", x, y, tx, ty, shard_rows=128)


def test_one_epoch_writes_metrics_and_a_loadable_model(shards: Path, tmp_path: Path) -> None:
    import keras

    config = TrainConfig(epochs=1, batch_size=32, seed=0)
    result = train_from_shards(shards, tmp_path / "run", config, validation_passed=True)
    assert result.metrics_path == tmp_path / "run" / "metrics.json"
    assert result.model_path == tmp_path / "run" / "model.keras"
    metrics = json.loads(result.metrics_path.read_text())
    assert metrics == json.loads(json.dumps(result.metrics))  # returned = written
    assert {"test_accuracy", "epochs", "images_per_second", "per_class_accuracy"} <= set(metrics)
    assert metrics["epochs"] == 1
    assert metrics["forced"] is False
    assert (metrics["train_rows"], metrics["test_rows"]) == (320, 80)
    assert metrics["images_per_second"] > 0
    assert set(metrics["per_class_accuracy"]) == {"0", "1"}
    assert metrics["test_accuracy"] >= 0.95  # the classes differ in half the image
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]

    model = keras.saving.load_model(result.model_path)
    assert model.input_shape == (None, 64) and model.output_shape == (None, 2)
    x, y = next(ShardDataset(shards, "test").batches(80))
    pred = np.argmax(model.predict_on_batch(x), axis=1)
    assert float(np.mean(pred == y)) == pytest.approx(metrics["test_accuracy"])
    per_class = metrics["per_class_accuracy"]
    for c in (0, 1):
        assert float(np.mean(pred[y == c] == c)) == pytest.approx(per_class[str(c)])


def test_refuses_when_validation_failed(shards: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="refusing to train"):
        train_from_shards(shards, tmp_path / "run", TrainConfig(epochs=1), validation_passed=False)
    assert not (tmp_path / "run").exists()


def test_force_trains_anyway_and_says_so(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, batch_size=64, force=True, input_pipeline="numpy")
    result = train_from_shards(shards, tmp_path / "run", config, validation_passed=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["forced"] is True
    assert metrics["input_pipeline"] == "numpy"
    assert metrics["epochs"] == 1 and 0 <= metrics["test_accuracy"] <= 1
    assert result.model_path.is_file()


def test_metrics_explain_the_model(shards: Path, tmp_path: Path) -> None:
    """Per-class accuracy, confusion matrix, per-epoch history and the most-wrong eval rows."""
    config = TrainConfig(epochs=2, batch_size=32, seed=0, input_pipeline="numpy")
    metrics = train_from_shards(shards, tmp_path / "run", config, validation_passed=True).metrics
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (2, 2) and confusion.sum() == metrics["test_rows"] == 80
    assert confusion.sum(axis=1).tolist() == [40, 40]  # rows are the true labels
    assert np.trace(confusion) / 80 == pytest.approx(metrics["test_accuracy"])
    for c in (0, 1):
        assert metrics["per_class_accuracy"][str(c)] == pytest.approx(confusion[c, c] / 40)
    history = metrics["history"]
    assert [len(history[k]) for k in ("loss", "accuracy", "seconds")] == [2, 2, 2]
    assert history["loss"][-1] == pytest.approx(metrics["final_train_loss"])
    assert history["seconds"] == metrics["epoch_seconds"]
    assert len(metrics["most_wrong"]) == 80 - np.trace(confusion)  # fewer than 24 wrong
    evaluation = ShardDataset(shards, "test")
    labels = np.concatenate([y for _, y in evaluation.batches(80)])
    label_of = dict(zip(evaluation.ids(), labels.tolist(), strict=True))  # ids in batch order
    assert len(label_of) == 80
    for wrong in metrics["most_wrong"]:
        assert label_of[wrong["id"]] == wrong["label"] != wrong["predicted"]
    confidences = [w["confidence"] for w in metrics["most_wrong"]]
    assert confidences == sorted(confidences, reverse=True)


def test_most_wrong_are_the_confident_mistakes() -> None:
    from dataqual.train.trainer import eval_metrics

    truth = np.array([0, 1, 2, 0, 1, 2])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # right
            [0.6, 0.3, 0.1],  # wrong, 0.6
            [0.05, 0.9, 0.05],  # wrong, 0.9
            [0.2, 0.7, 0.1],  # wrong, 0.7
            [0.1, 0.8, 0.1],  # right
            [0.1, 0.1, 0.8],  # right
        ],
        np.float32,
    )
    ids = np.array([f"test/{i}" for i in range(6)])
    got = eval_metrics(truth, probs, ids, classes=4, top=2)
    assert got["confusion_matrix"] == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert got["per_class_accuracy"] == {"0": 0.5, "1": 0.5, "2": 0.5}  # class 3: no rows
    assert [(w["id"], w["label"], w["predicted"]) for w in got["most_wrong"]] == [
        ("test/2", 2, 1),
        ("test/3", 0, 1),
    ]
    assert got["most_wrong"][0]["confidence"] == pytest.approx(0.9)
