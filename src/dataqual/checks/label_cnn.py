"""The ``cnn`` label-audit model: out-of-fold class probabilities from a small Keras convnet.

For every fold a fresh copy of the trainer's ``cnn`` (:func:`dataqual.train.model.build_model`:
Conv 32 → MaxPool → Conv 64 → MaxPool → Dropout 0.25 → Dense 128 → softmax, Adam) is built
from the thumbnails' side and the class count, trained for ``cnn_epochs`` epochs (batch
``cnn_batch_size``) on the other folds, and predicts the held-out fold, so no row's
probabilities come from a model that saw it. The softmax rows go to cleanlab as they are.

The features must be the flat (deskewed) thumbnails in 0..1, not PCA components: the label
audit skips PCA for the models in :data:`PIXEL_MODELS`. Keras 3 is imported only when the
model runs and picks the device: a visible GPU is used (TensorFlow or JAX backend alike).
The weights and the shuffling are seeded from ``settings.seed`` (plus the fold's index), so
a run is repeatable on one machine. Opt-in: slower than the default ``class_knn``
(docs/quality.md has the MNIST figures).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from dataqual.errors import ConfigError

__all__ = ["PIXEL_MODELS", "cnn_probabilities"]

#: Label-audit models that take the flat thumbnails (in 0..1) instead of PCA components.
PIXEL_MODELS = frozenset({"cnn"})
_PREDICT_BATCH = 4096


def cnn_probabilities(
    features: np.ndarray,
    codes: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
    settings: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Out-of-fold softmax probabilities ``(rows, n_classes)`` of a convnet per fold.

    ``features``: flat square images, float in 0..1; ``codes``: class indices
    ``0..n_classes-1``; ``folds``: (train rows, held-out rows) pairs covering every row once.
    ``settings`` (``LabelIssuesSettings``) give ``cnn_epochs``, ``cnn_batch_size`` and the
    seed. The info dict names the backend (``tensorflow``, ``jax``...), the device (``gpu``
    or ``cpu``), the epochs and the batch size.
    """
    from dataqual.train.model import build_model

    x = np.asarray(features, np.float32)
    side = math.isqrt(x.shape[1]) if x.ndim == 2 else 0
    if x.ndim != 2 or side < 1 or side * side != x.shape[1]:
        raise ConfigError(
            f"label audit model cnn: needs flat square thumbnails, got features of shape "
            f"{x.shape} (PCA must be skipped for it)"
        )
    epochs = int(settings.cnn_epochs)
    batch = int(settings.cnn_batch_size)
    y = np.asarray(codes, np.int32)
    probs = np.zeros((len(y), n_classes), np.float64)
    tf_log = logging.getLogger("tensorflow")  # a fresh model per fold: "retracing" warnings
    level = tf_log.level
    tf_log.setLevel(max(level, logging.ERROR))
    try:
        for index, (train, test) in enumerate(folds):
            if len(test) == 0:
                continue
            model = build_model("cnn", side, side, n_classes, seed=settings.seed + index)
            model.fit(x[train], y[train], batch_size=batch, epochs=epochs, verbose=0)
            probs[test] = model.predict(x[test], batch_size=_PREDICT_BATCH, verbose=0)
    finally:
        tf_log.setLevel(level)
    probs = np.clip(probs, 1e-12, None)
    probs /= probs.sum(axis=1, keepdims=True)
    backend, device = _where()
    return probs, {"backend": backend, "device": device, "epochs": epochs, "batch_size": batch}


def _where() -> tuple[str, str]:
    """Keras's backend and ``gpu`` when it sees a GPU, else ``cpu``."""
    import keras

    try:
        devices = keras.distribution.list_devices()
    except (NotImplementedError, RuntimeError, ValueError):  # backends without the API
        devices = []
    gpu = any(str(d).lower().startswith(("gpu", "cuda")) for d in devices)
    return keras.config.backend(), "gpu" if gpu else "cpu"
