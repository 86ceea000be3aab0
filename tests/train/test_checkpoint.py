"""Resumable training: a real process killed (SIGKILL) in epoch 3 and started again with the
same command continues at epoch 3 and ends where an uninterrupted run ends; exports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dataqual.train.checkpoint import (
    backup_key,
    model_backup_dir,
    resume_epoch,
    run_backup_dir,
    tensorboard_skipped,
)
from tests.helpers import make_shards

SCRIPT = Path(__file__).with_name("resumable_fit.py")
#: Final test accuracy of the resumed run vs the uninterrupted one (same seed). The
#: backup restores weights, optimizer, dropout seeds and epoch, and the data order
#: follows the epoch, so on one machine the two agree exactly; the tolerance is for
#: floating-point noise (one eval row in 200 is 0.005).
TOLERANCE = 0.02


def noisy_two_classes(n: int, seed: int, flip: float) -> tuple[np.ndarray, np.ndarray]:
    """Faint ink in the top (class 0) or bottom (class 1) half, ``flip`` of labels wrong."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.uint8)
    images = rng.integers(0, 120, (n, 8, 8), dtype=np.uint8)
    for i, label in enumerate(labels):
        rows = slice(4, 8) if label else slice(0, 4)
        images[i, rows] += rng.integers(0, 60, (4, 8), dtype=np.uint8)
    flipped = rng.random(n) < flip
    return images, np.where(flipped, 1 - labels, labels).astype(np.uint8)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, y = noisy_two_classes(384, seed=0, flip=0.1)
    tx, ty = noisy_two_classes(200, seed=1, flip=0.0)
    folder = tmp_path_factory.mktemp("checkpoint") / "shards"
    return make_shards(folder, x, y, tx, ty, shard_rows=128)


def _start(shards: Path, work: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    command = [sys.executable, str(SCRIPT), str(shards), str(work), "--epochs", "6", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_line(path: Path, line: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and line in path.read_text().splitlines():
            return
        if proc.poll() is not None:
            pytest.fail(f"the training ended ({proc.returncode}): {proc.stderr.read().decode()}")
        time.sleep(0.02)
    pytest.fail(f"no {line!r} in {path} after {timeout} s")


def _lock_holder(path: Path, procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """The one of ``procs`` that holds the lock ``path`` (its pid is in it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        try:
            pid = json.loads(path.read_text() or "{}").get("pid")
        except (OSError, ValueError):
            pid = None
        for proc in procs:
            if proc.pid == pid:
                return proc
        time.sleep(0.02)
    pytest.fail(f"none of {[p.args for p in procs]} took the lock {path}")


def _finish(proc: subprocess.Popen[bytes], work: Path) -> dict:
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err.decode()[-2000:]
    return json.loads((work / "result.json").read_text())


@pytest.mark.slow
def test_exported_inference_model_predicts_like_keras(shards: Path, tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    from dataqual.train.checkpoint import export_model
    from dataqual.train.data import ShardDataset
    from dataqual.train.model import build_reference_model

    x, y = next(ShardDataset(shards, "train").batches(384))
    model = build_reference_model(64, 2, hidden=32, seed=0)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    written = export_model(model, tmp_path / "model")
    assert written == {"keras": "model.keras", "inference": "inference"}
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["inference", "model.keras"]
    expected = model.predict_on_batch(x[:8])
    loaded = keras.saving.load_model(tmp_path / "model" / "model.keras")
    saved = tf.saved_model.load(str(tmp_path / "model" / "inference"))
    served = saved.serve(x[:8]).numpy()
    np.testing.assert_allclose(loaded.predict_on_batch(x[:8]), expected, atol=1e-6)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    export_model(model, tmp_path / "model")  # again: replaces, leaves nothing behind
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["inference", "model.keras"]


@pytest.mark.slow
def test_killed_in_epoch_3_resumes_at_epoch_3(shards: Path, tmp_path: Path) -> None:
    from tests.train.resumable_fit import train

    hold = tmp_path / "hold"
    hold.write_text("3")  # the run waits at the start of epoch 3 while this says 3
    work = tmp_path / "run"
    command = ("--hold", str(hold))
    # The same command twice at once: whichever takes the lock first trains, the other
    # (ready, Keras imported) waits for the lock, the restart after the kill.
    starts = [_start(shards, work, *command) for _ in range(2)]
    first = _lock_holder(work / "lock", starts)
    (again,) = [p for p in starts if p is not first]
    uninterrupted = train(shards, tmp_path / "reference", 6)  # here, meanwhile
    _wait_for_line(work / "epochs.log", "begin 3", first, timeout=60)
    assert resume_epoch(work / "backup") == 2  # epochs 1-2 backed up
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    assert not (work / "result.json").exists()
    hold.unlink()

    resumed = _finish(again, work)
    log = (work / "epochs.log").read_text().split()[1::2]
    assert log == ["1", "2", "3", "3", "4", "5", "6"]  # killed in 3, resumed at 3
    assert len(resumed["loss"]) == 4  # epochs 3-6 only
    assert resumed["resumed_from_epoch"] == 3
    assert not (work / "backup").exists()  # removed once fit finished

    assert uninterrupted["resumed_from_epoch"] is None
    assert len(uninterrupted["loss"]) == 6
    assert uninterrupted["test_accuracy"] > 0.8  # it learned something
    assert resumed["test_accuracy"] == pytest.approx(uninterrupted["test_accuracy"], abs=TOLERANCE)
    # Weights, optimizer, dropout seeds and data order are restored: the resumed epochs
    # repeat the uninterrupted ones (up to float noise).
    assert resumed["loss"] == pytest.approx(uninterrupted["loss"][2:], rel=1e-4)
    if tensorboard_skipped() is None:
        assert list((work / "model" / "logs").rglob("events.out.tfevents.*"))
    else:
        assert resumed["tensorboard_skipped"] and resumed["tensorboard_logs"] is None


def test_backup_folders_are_stable_and_keyed(shards: Path, tmp_path: Path) -> None:
    manifest = shards / "manifest.json"
    key = backup_key(manifest, {"epochs": 6, "seed": 0, "force": False})
    assert key == backup_key(manifest, {"epochs": 6, "seed": 0, "force": True})
    assert key != backup_key(manifest, {"epochs": 6, "seed": 1, "force": False})
    out = tmp_path / "runs" / "mnist"
    assert run_backup_dir(out, key) == out.parent / f".mnist.train-backup-{key[:16]}"
    assert model_backup_dir(out / "model", key) == out / "model" / f".backup-{key[:16]}"
    assert resume_epoch(tmp_path / "none") == 0
