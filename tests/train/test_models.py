"""The models: the reference MLP unchanged on MNIST's shape, the CNN built from the shards'
shape (28x28 and 8x8) and trained one epoch, and metrics.json's record of where it ran."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dataqual.train.model import build_model
from dataqual.train.strategy import Placement
from dataqual.train.trainer import TrainConfig, train_from_shards
from tests.helpers import make_shards

WHERE = {"backend", "devices", "strategy", "replicas", "precision", "jit", "model"}


def bands(n: int, side: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class c has ink in horizontal band c of ``classes`` equal bands; faint noise elsewhere."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % classes).astype(np.uint8)
    images = rng.integers(0, 40, (n, side, side), dtype=np.uint8)
    height = side // classes
    for i, label in enumerate(labels):
        images[i, label * height : (label + 1) * height] = 220
    return images, labels


def test_the_mlp_is_the_reference_on_mnist_shape() -> None:
    import keras

    model = build_model("mlp", 28, 28, 10, jit_compile=False)
    assert model.input_shape == (None, 784) and model.output_shape == (None, 10)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [1024, 1024, 10]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [
        0.5,
        0.5,
    ]
    assert model.count_params() == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_the_cnn_builds_from_the_shape() -> None:
    import keras

    for height, width, classes in ((28, 28, 10), (8, 8, 3), (5, 3, 2)):
        model = build_model("cnn", height, width, classes, jit_compile=False)
        assert model.input_shape == (None, height * width)
        assert model.output_shape == (None, classes)
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        assert [(c.filters, c.kernel_size) for c in convs] == [(32, (3, 3)), (64, (3, 3))]
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        build_model("rnn", 8, 8, 2)


@pytest.mark.slow
@pytest.mark.parametrize("side", [28, 8])
def test_the_cnn_trains_one_epoch_from_shards(side: int, tmp_path: Path) -> None:
    x, y = bands(192, side, 4, seed=0)
    tx, ty = bands(64, side, 4, seed=1)
    shards = make_shards(tmp_path / "shards", x, y, tx, ty, shard_rows=96)
    config = TrainConfig(epochs=1, batch_size=32, model="cnn")
    result = train_from_shards(shards, tmp_path / "run", config, validation_passed=True)
    metrics = json.loads(result.metrics_path.read_text())
    assert {k: metrics[k] for k in WHERE} == {
        "backend": "tensorflow", "devices": ["cpu:0"], "strategy": "_DefaultDistributionStrategy",
        "replicas": 1, "precision": "float32", "jit": False, "model": "cnn",
    }  # fmt: skip
    assert {"per_class_accuracy", "confusion_matrix", "history", "most_wrong"} <= set(metrics)
    assert np.array(metrics["confusion_matrix"]).shape == (4, 4)
    assert metrics["test_accuracy"] >= 0.5  # one epoch on 192 clear images; chance is 0.25
    import keras

    model = keras.saving.load_model(result.model_path)
    assert model.name == "dataqual_cnn" and model.input_shape == (None, side * side)


def test_mixed_precision_builds_float16_layers_and_a_float32_output() -> None:
    import keras

    # The placement a GPU would get (place() refuses mixed on this CPU machine); building
    # under its scope needs no GPU, and the global policy is restored afterwards.
    mixed = Placement("tensorflow", ("gpu:0",), None, "mixed", False)
    with mixed.scope():
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        model = build_model("cnn", 8, 8, 3, jit_compile=False)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert model.layers[1].compute_dtype == "float16"  # the first convolution
    assert model.layers[-1].compute_dtype == "float32"  # the softmax
    out = model(np.zeros((2, 64), np.float32), training=False)
    assert np.asarray(out).dtype == np.float32
    assert build_model("mlp", 8, 8, 3, jit_compile=True).jit_compile is True  # --jit: XLA
