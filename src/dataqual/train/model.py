"""The reference model: a 784-1024-1024-10 MLP with ReLU, dropout 0.5 and Adam (Keras 3)."""

from __future__ import annotations

from typing import Any

__all__ = ["build_reference_model"]


def build_reference_model(
    features: int,
    classes: int,
    *,
    hidden: int = 1024,
    dropout: float = 0.5,
    learning_rate: float = 1e-3,
    seed: int | None = 0,
) -> Any:
    """A compiled Keras 3 model; runs on TensorFlow or JAX, on a GPU when the backend sees one."""
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(features,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(classes, activation="softmax"),
        ],
        name="dataqual_reference_mlp",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
