"""Keras callbacks of the trainer (this module imports keras: import it only to train)."""

from __future__ import annotations

import time
from typing import Any

import keras

from dataqual.progress import EpochDone, check_cancelled, emit

__all__ = ["EpochProgress", "EpochTimer"]


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each epoch in ``durations`` (seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.durations: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.durations.append(time.perf_counter() - self._started)


class EpochProgress(keras.callbacks.Callback):
    """Emits an :class:`~dataqual.progress.EpochDone` after each epoch, and stops training
    within one batch when the run is interrupted (:func:`~dataqual.progress.check_cancelled`)."""

    def __init__(self, epochs: int, rows: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.rows = rows
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        check_cancelled()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        seconds = time.perf_counter() - self._started
        logs = logs or {}
        emit(
            EpochDone(
                epoch=epoch + 1,
                epochs=self.epochs,
                loss=float(logs.get("loss", float("nan"))),
                accuracy=float(logs.get("accuracy", float("nan"))),
                seconds=seconds,
                images_per_second=self.rows / seconds if seconds > 0 else 0.0,
            )
        )
