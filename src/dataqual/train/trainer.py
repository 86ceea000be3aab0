"""Train the reference model from shards and write ``metrics.json`` and the saved model."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from dataqual.environment import quiet_native_import
from dataqual.errors import ConfigError, ValidationFailed
from dataqual.files import atomic_path, write_json
from dataqual.train.data import ShardDataset
from dataqual.train.model import build_reference_model

__all__ = [
    "MOST_WRONG",
    "TrainConfig",
    "TrainResult",
    "device_summary",
    "eval_metrics",
    "train_from_shards",
]

log = logging.getLogger(__name__)

#: Eval images listed in ``metrics.json``'s ``most_wrong``, most confidently wrong first.
MOST_WRONG = 24


class TrainConfig(BaseModel):
    """Training settings; the defaults are the reference recipe."""

    epochs: int = Field(10, ge=1, description="Passes over the training split.")
    batch_size: int = Field(128, ge=1, description="Rows per gradient step.")
    learning_rate: float = Field(1e-3, gt=0, description="Adam learning rate.")
    seed: int = Field(0, description="Seed for weights and shuffling.")
    train_split: str = "train"
    eval_split: str = "test"
    force: bool = Field(False, description="Train even though validation failed.")
    input_pipeline: str = Field(
        "auto",
        pattern="^(auto|tf|numpy)$",
        description="tf.data on the TensorFlow backend, NumPy batches otherwise.",
    )


class TrainResult(BaseModel):
    metrics_path: Path
    model_path: Path
    metrics: dict[str, Any]


def device_summary() -> dict[str, Any]:
    """Keras backend and whether it sees a GPU."""
    import keras

    backend = keras.backend.backend()
    gpus: list[str] = []
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    elif backend == "jax":
        import jax

        gpus = [str(d) for d in jax.devices() if d.platform == "gpu"]
    return {"backend": backend, "device": "GPU" if gpus else "CPU", "gpus": gpus}


def _num_classes(*datasets: ShardDataset) -> int:
    labels = [int(k) for ds in datasets for k in ds.manifest.splits[ds.split].label_counts]
    return max(labels) + 1 if labels else 1


def train_from_shards(
    shards: Path, out_dir: Path, config: TrainConfig, *, validation_passed: bool
) -> TrainResult:
    """Train on the train split's shards, evaluate on the eval split, write metrics and model.

    Refuses (``ValidationFailed``) when validation failed, unless ``config.force``.
    """
    quiet_native_import("keras")  # keras loads TensorFlow now: its absl lines filtered
    if not validation_passed and not config.force:
        raise ValidationFailed(
            "the data failed validation; refusing to train (use --force to train anyway)"
        )
    train = ShardDataset(Path(shards), config.train_split)
    evaluation = ShardDataset(Path(shards), config.eval_split)
    if train.rows == 0:
        raise ConfigError(f"{shards}: the {config.train_split!r} split is empty")
    device = device_summary()
    classes = _num_classes(train, evaluation)
    model = build_reference_model(
        train.features, classes, learning_rate=config.learning_rate, seed=config.seed
    )
    fit = _fit(model, train, config, device["backend"])
    truth, probs = _predict(model, evaluation)
    metrics = {
        **_metrics(truth, probs.argmax(axis=1), fit, (train.rows, evaluation.rows), config),
        "forced": not validation_passed,
        **device,
        **eval_metrics(truth, probs, evaluation.ids(), classes),
        "history": fit.history,
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = _save_model(model, out_dir / "model.keras")
    metrics_path = write_json(out_dir / "metrics.json", metrics)
    log.info("trained %d epochs: test accuracy %.4f", config.epochs, metrics["test_accuracy"] or 0)
    return TrainResult(metrics_path=metrics_path, model_path=model_path, metrics=metrics)


@dataclass(frozen=True)
class _Fit:
    """What fitting measured: the last epoch's loss and accuracy, its timings and the
    per-epoch ``history`` (``loss``, ``accuracy`` and ``seconds`` lists)."""

    loss: float
    accuracy: float
    seconds: float
    epoch_seconds: list[float]
    input_pipeline: str
    history: dict[str, list[float]]


def _fit(model: Any, train: ShardDataset, config: TrainConfig, backend: str) -> _Fit:
    """Fit ``model`` on the train split with tf.data or NumPy batches (see ``TrainConfig``)."""
    from dataqual.train.callbacks import EpochProgress, EpochTimer

    use_tf = config.input_pipeline == "tf" or (
        config.input_pipeline == "auto" and backend == "tensorflow"
    )
    if use_tf:
        data = train.to_tf(config.batch_size, shuffle=True, seed=config.seed)
        fit_kwargs: dict[str, Any] = {"shuffle": False}  # the pipeline shuffles
    else:
        data = train.epochs(config.batch_size, seed=config.seed)
        fit_kwargs = {"steps_per_epoch": train.steps(config.batch_size), "shuffle": False}
    timer = EpochTimer()
    started = time.perf_counter()
    callbacks = [timer, EpochProgress(config.epochs, train.rows)]
    history = model.fit(data, epochs=config.epochs, verbose=0, callbacks=callbacks, **fit_kwargs)
    losses = [float(v) for v in history.history["loss"]]
    accuracies = [float(v) for v in history.history["accuracy"]]
    return _Fit(
        loss=losses[-1],
        accuracy=accuracies[-1],
        seconds=time.perf_counter() - started,
        epoch_seconds=timer.durations,
        input_pipeline="tf.data" if use_tf else "numpy",
        history={"loss": losses, "accuracy": accuracies, "seconds": list(timer.durations)},
    )


def _predict(model: Any, evaluation: ShardDataset) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predicted class probabilities (n, classes) of the eval split, in
    the order of :meth:`ShardDataset.ids`."""
    y_true, y_prob = [], []
    for x, y in evaluation.batches(1024):
        y_prob.append(np.asarray(model.predict_on_batch(x), dtype=np.float32))
        y_true.append(y)
    if not y_true:
        classes = int(model.output_shape[-1])
        return np.zeros(0, np.int64), np.zeros((0, classes), np.float32)
    return np.concatenate(y_true), np.concatenate(y_prob)


def eval_metrics(
    truth: np.ndarray, probs: np.ndarray, ids: np.ndarray, classes: int, top: int = MOST_WRONG
) -> dict[str, Any]:
    """Per-class accuracy, the confusion matrix (rows: true label, columns: predicted) and
    the ``top`` eval rows predicted wrong with the highest confidence (``id``, given
    ``label``, ``predicted`` label and its ``confidence``), from the true labels, the
    predicted probabilities (n, classes) and the row ids, all in the same order."""
    truth = np.asarray(truth, np.int64)
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
    k = max(classes, int(truth.max()) + 1 if len(truth) else 0, probs.shape[1])
    confusion = np.bincount(truth * k + pred, minlength=k * k).reshape(k, k)
    support = confusion.sum(axis=1)
    present = np.flatnonzero(support)
    per_class = np.diag(confusion)[present] / support[present]
    confidence = probs[np.arange(len(pred)), pred] if len(pred) else np.zeros(0, np.float32)
    wrong = np.flatnonzero(pred != truth)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")[:top]]
    most_wrong = pd.DataFrame(
        {
            "id": np.asarray(ids, dtype=object)[worst].astype(str),
            "label": truth[worst],
            "predicted": pred[worst],
            "confidence": confidence[worst].astype(float).round(6),
        }
    )
    return {
        "per_class_accuracy": dict(
            zip(present.astype(str).tolist(), per_class.tolist(), strict=True)
        ),
        "confusion_matrix": confusion.tolist(),
        "most_wrong": most_wrong.to_dict("records"),
    }


def _metrics(
    truth: np.ndarray,
    pred: np.ndarray,
    fit: _Fit,
    rows: tuple[int, int],
    config: TrainConfig,
) -> dict[str, Any]:
    """The metrics of ``metrics.json`` from the fit, the predictions and the (train, eval)
    row counts."""
    train_rows, test_rows = rows
    # Throughput over epochs after the first, which pays for tracing and warm-up.
    steady = fit.epoch_seconds[1:] or fit.epoch_seconds
    return {
        "test_accuracy": float(np.mean(pred == truth)) if len(truth) else None,
        "epochs": config.epochs,
        "images_per_second": float(train_rows * len(steady) / sum(steady)) if sum(steady) else None,
        "train_rows": train_rows,
        "test_rows": test_rows,
        "train_seconds": fit.seconds,
        "epoch_seconds": fit.epoch_seconds,
        "final_train_loss": fit.loss,
        "final_train_accuracy": fit.accuracy,
        "batch_size": config.batch_size,
        "input_pipeline": fit.input_pipeline,
    }


def _save_model(model: Any, path: Path) -> Path:
    """Save ``model`` atomically (Keras insists on the ``.keras`` suffix)."""
    import keras

    with atomic_path(path) as tmp:
        keras.saving.save_model(model, tmp.with_suffix(".keras"))
        tmp.with_suffix(".keras").replace(tmp)
    return path
