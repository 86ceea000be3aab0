"""The models the trainer builds from the shards' image shape and class count (Keras 3).

``mlp``, the reference: flattened pixels → Dense 1024 ReLU → Dropout 0.5 → Dense 1024 ReLU
→ Dropout 0.5 → Dense classes softmax (784-1024-1024-10 on MNIST), Adam.

``cnn``, a small convnet: the flat pixels reshaped to (height, width, 1) → Conv 32 3x3 ReLU
→ MaxPool 2x2 → Conv 64 3x3 ReLU → MaxPool 2x2 → Flatten → Dropout 0.25 → Dense 128 ReLU →
Dense classes softmax, Adam. Convolutions and pools pad ("same"), so images as small as
1x1 build. About 0.4M weights on 28x28 (the MLP has 1.9M).

Both take flat float32 pixels in 0..1 (the shard pipeline's batches) and end in a float32
softmax, so they also train under the ``mixed_float16`` policy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MODELS", "build_model", "build_reference_model"]

#: The model kinds :func:`build_model` knows.
MODELS = ("mlp", "cnn")


def build_model(
    kind: str,
    height: int,
    width: int,
    classes: int,
    *,
    learning_rate: float = 1e-3,
    seed: int | None = 0,
    jit_compile: bool | str = "auto",
) -> Any:
    """A compiled ``kind`` model (see :data:`MODELS`) for ``height`` x ``width`` images."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; models are {', '.join(MODELS)}")
    _seed(seed)
    if kind == "mlp":
        layers, name = _mlp_layers(classes), "dataqual_reference_mlp"
    else:
        layers, name = _cnn_layers(height, width, classes), "dataqual_cnn"
    return _compiled(layers, height * width, name, learning_rate, jit_compile)


def build_reference_model(
    features: int,
    classes: int,
    *,
    hidden: int = 1024,
    dropout: float = 0.5,
    learning_rate: float = 1e-3,
    seed: int | None = 0,
) -> Any:
    """The reference MLP on ``features`` flat pixels (compiled; TensorFlow or JAX)."""
    _seed(seed)
    layers = _mlp_layers(classes, hidden, dropout)
    return _compiled(layers, features, "dataqual_reference_mlp", learning_rate, "auto")


def _compiled(
    layers: list[Any],
    features: int,
    name: str,
    learning_rate: float,
    jit_compile: bool | str,
) -> Any:
    """Layer weights are drawn when the layers are made: seed before (:func:`_seed`)."""
    import keras

    model = keras.Sequential([keras.Input(shape=(features,)), *layers], name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


def _seed(seed: int | None) -> None:
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)


def _mlp_layers(classes: int, hidden: int = 1024, dropout: float = 0.5) -> list[Any]:
    import keras

    return [
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(classes, activation="softmax", dtype="float32"),
    ]


def _cnn_layers(height: int, width: int, classes: int) -> list[Any]:
    import keras

    return [
        keras.layers.Reshape((height, width, 1)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2, padding="same"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(classes, activation="softmax", dtype="float32"),
    ]
