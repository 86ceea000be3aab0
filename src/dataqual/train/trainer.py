"""Train the reference model from shards and write ``metrics.json`` and the saved model."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from dataqual.environment import quiet_native_import
from dataqual.errors import ConfigError, ValidationFailed
from dataqual.files import write_json
from dataqual.train.card import write_model_card
from dataqual.train.checkpoint import (
    backup_key,
    export_model,
    model_backup_dir,
    resume_epoch,
    training_callbacks,
    training_record,
)
from dataqual.train.data import ShardDataset
from dataqual.train.model import build_model
from dataqual.train.strategy import Placement, place

__all__ = [
    "MOST_WRONG",
    "Resume",
    "TrainConfig",
    "TrainResult",
    "device_summary",
    "eval_metrics",
    "fit_and_evaluate",
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
    devices: str = Field(
        "auto",
        pattern=r"^\s*(auto|(cpu|gpu)(:\d+)?(\s*,\s*(cpu|gpu)(:\d+)?)*)\s*$",
        description="Where to train: auto (every GPU, else the CPU), cpu, gpu, or a comma "
        "list such as gpu:0,gpu:1 (several devices: MirroredStrategy).",
    )
    precision: Literal["float32", "mixed"] = Field(
        "float32", description="float32, or mixed (mixed_float16; needs a GPU)."
    )
    jit: bool = Field(False, description="Compile the train step with XLA (jit_compile).")
    model: Literal["mlp", "cnn"] = Field(
        "mlp", description="mlp (the reference 784-1024-1024-10) or cnn (a small convnet)."
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
    shards: Path,
    out_dir: Path,
    config: TrainConfig,
    *,
    validation_passed: bool,
    backup_dir: Path | None = None,
) -> TrainResult:
    """Train on the train split's shards, evaluate on the eval split, write metrics, the
    model (``.keras`` and an inference export) and the model card.

    Each epoch is backed up in ``backup_dir`` (default: ``out_dir/.backup-<key>``, see
    :mod:`dataqual.train.checkpoint`): the same command, run again after a crash, resumes at
    the epoch that was cut short. Refuses (``ValidationFailed``) when validation failed,
    unless ``config.force``.
    """
    quiet_native_import("keras")  # keras loads TensorFlow now: its absl lines filtered
    if not validation_passed and not config.force:
        raise ValidationFailed(
            "the data failed validation; refusing to train (use --force to train anyway)"
        )
    train = ShardDataset(Path(shards), config.train_split)
    evaluation = ShardDataset(Path(shards), config.eval_split)
    out_dir = Path(out_dir)
    manifest = Path(shards) / "manifest.json"
    backup = backup_dir or model_backup_dir(out_dir, backup_key(manifest, config))
    model, metrics = fit_and_evaluate(train, evaluation, config, out_dir, backup)
    metrics["forced"] = not validation_passed
    status = "passed" if validation_passed else "failed"
    result = _write_model(model, out_dir, metrics, manifest, config, status)
    log.info("trained %d epochs: test accuracy %.4f", config.epochs, metrics["test_accuracy"] or 0)
    return result


def fit_and_evaluate(
    train: ShardDataset,
    evaluation: ShardDataset,
    config: TrainConfig,
    out_dir: Path,
    backup: Path,
) -> tuple[Any, dict[str, Any]]:
    """Build the configured model, fit it on ``train`` (backed up each epoch in ``backup``,
    TensorBoard logs under ``out_dir``) and evaluate it on ``evaluation``: the model and
    its metrics (accuracy, per class, confusion matrix, history, where it ran)."""
    if train.rows == 0:
        raise ConfigError(f"{train.folder}: the {config.train_split!r} split is empty")
    device = device_summary()
    placement = place(device["backend"], config.devices, config.precision, config.jit)
    classes = _num_classes(train, evaluation)
    with placement.scope():
        model = build_model(
            config.model,
            train.height,
            train.width,
            classes,
            learning_rate=config.learning_rate,
            seed=config.seed,
            jit_compile=placement.jit,
        )
    start = resume_epoch(backup)
    fit = _fit(model, train, config, placement, Resume(Path(out_dir), backup, start))
    truth, probs = _predict(model, evaluation, placement.replicas)
    metrics = {
        **_metrics(truth, probs.argmax(axis=1), fit, (train.rows, evaluation.rows), config),
        "forced": False,
        **device,
        **placement.summary(),
        "model": config.model,
        **eval_metrics(truth, probs, evaluation.ids(), classes),
        "history": fit.history,
        **training_record(backup, start),
    }
    return model, metrics


def _write_model(
    model: Any,
    out_dir: Path,
    metrics: dict[str, Any],
    manifest: Path,
    config: TrainConfig,
    validation_status: str,
) -> TrainResult:
    """The model's exports, ``metrics.json`` (which names the exports) and the model card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exports = export_model(model, out_dir)
    metrics["exports"] = exports
    metrics_path = write_json(out_dir / "metrics.json", metrics)
    write_model_card(
        out_dir,
        metrics=metrics,
        manifest_path=manifest,
        validation_status=validation_status,
        config=config,
        exports=exports,
    )
    return TrainResult(
        metrics_path=metrics_path, model_path=out_dir / exports["keras"], metrics=metrics
    )


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


@dataclass(frozen=True)
class Resume:
    """Where a fit keeps its per-epoch backup and logs, and the epoch it starts at."""

    out_dir: Path
    backup: Path
    start: int  # 0-based; > 0 when resuming an interrupted fit


def _fit(
    model: Any, train: ShardDataset, config: TrainConfig, placement: Placement, resume: Resume
) -> _Fit:
    """Fit ``model`` on the train split with tf.data or NumPy batches (see ``TrainConfig``);
    a resumed fit shifts the shuffling seed so its epochs see the batches they would have."""
    from dataqual.train.callbacks import EpochProgress, EpochTimer

    use_tf = config.input_pipeline == "tf" or (
        config.input_pipeline == "auto" and placement.backend == "tensorflow"
    )
    if use_tf:
        workers = placement.workers
        seed = config.seed + resume.start
        data = train.to_tf(config.batch_size, shuffle=True, seed=seed, workers=workers)
        fit_kwargs: dict[str, Any] = {"shuffle": False}  # the pipeline shuffles
        if workers[0] > 1:  # each worker's input repeats: an epoch is counted in steps
            fit_kwargs["steps_per_epoch"] = train.steps(config.batch_size)
    else:
        data = train.epochs(config.batch_size, seed=config.seed + resume.start)
        fit_kwargs = {"steps_per_epoch": train.steps(config.batch_size), "shuffle": False}
    timer = EpochTimer()
    started = time.perf_counter()
    backup = training_callbacks(resume.out_dir, backup_dir=resume.backup)
    callbacks = [*backup, timer, EpochProgress(config.epochs, train.rows)]
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


def _predict(model: Any, evaluation: ShardDataset, replicas: int) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predicted class probabilities (n, classes) of the eval split, in
    the order of :meth:`ShardDataset.ids`. (Under several replicas ``predict_on_batch``
    gives each replica the whole batch: the model is called directly instead.)"""
    y_true, y_prob = [], []
    for x, y in evaluation.batches(1024):
        prob = model(x, training=False) if replicas > 1 else model.predict_on_batch(x)
        y_prob.append(np.asarray(prob, dtype=np.float32))
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
