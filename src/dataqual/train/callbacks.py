"""Keras callbacks of the trainer (this module imports keras: import it only to train)."""

from __future__ import annotations

import time
from typing import Any

import keras

__all__ = ["EpochTimer"]


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
