"""A resumable training, run as a process by tests/train/test_checkpoint.py.

    python resumable_fit.py SHARDS WORK [--epochs N] [--hold FILE]

Trains the reference MLP (small) on SHARDS with :func:`dataqual.train.checkpoint.
training_callbacks`, the backup in ``WORK/backup``, as the trainer will: the data seed
moves on by :func:`~dataqual.train.checkpoint.resume_epoch`. It holds the lock
``WORK/lock`` while it trains: a second start imports Keras, then waits for it, as a
second ``dataqual run`` of the same output can; a killed holder's lock is taken over. It appends
``begin N`` (1-based) to ``WORK/epochs.log`` when an epoch begins, then waits while FILE
names that epoch; at the end it writes ``WORK/result.json`` (the fit's history and the
eval split's accuracy). The test runs :func:`train` in its own process too, for the
uninterrupted reference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dataqual.environment import quiet_native_import
from dataqual.locks import acquire_lock

BATCH = 32


def _epoch_log(log: Path, hold: Path | None):
    """A callback that logs each epoch's beginning, then waits while ``hold`` names it."""
    import keras

    def begin(epoch: int, logs: object = None) -> None:
        with log.open("a") as f:
            f.write(f"begin {epoch + 1}\n")
        while hold and hold.is_file() and hold.read_text().strip() == str(epoch + 1):
            time.sleep(0.01)

    return keras.callbacks.LambdaCallback(on_epoch_begin=begin)


def train(shards: Path, work: Path, epochs: int, hold: Path | None = None) -> dict:
    """Fit with the backup in ``work/backup``; the fit's losses, the eval accuracy and
    :func:`~dataqual.train.checkpoint.training_record`."""
    from dataqual.train.checkpoint import resume_epoch, training_callbacks, training_record
    from dataqual.train.data import ShardDataset
    from dataqual.train.model import build_reference_model

    work.mkdir(parents=True, exist_ok=True)
    backup = work / "backup"
    start = resume_epoch(backup)
    data = ShardDataset(shards, "train")
    model = build_reference_model(data.features, 2, hidden=64, seed=0)
    callbacks = [
        *training_callbacks(work / "model", backup_dir=backup),
        _epoch_log(work / "epochs.log", hold),
    ]
    history = model.fit(
        data.epochs(BATCH, seed=start),
        steps_per_epoch=data.steps(BATCH),
        epochs=epochs,
        verbose=0,
        shuffle=False,
        callbacks=callbacks,
    )
    x, y = next(ShardDataset(shards, "test").batches(10_000))
    return {
        "loss": [float(v) for v in history.history["loss"]],
        "test_accuracy": float(np.mean(model.predict_on_batch(x).argmax(axis=1) == y)),
        **training_record(backup, start),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shards", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--hold", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    quiet_native_import("keras")  # before waiting: a second start is ready when it may go
    lock = acquire_lock(args.work / "lock", subject=args.work, wait=90)
    result = train(args.shards, args.work, args.epochs, args.hold)
    (args.work / "result.json").write_text(json.dumps(result))
    lock.release()


if __name__ == "__main__":
    main()
