"""Resumable training: a backup every epoch, TensorBoard logs and the model's exports.

Where the backup lives, so that the same command run again finds it
--------------------------------------------------------------------
Keras' ``BackupAndRestore`` saves the weights, the optimizer state and the next epoch
into a folder at the end of every epoch, restores them when ``fit`` starts, and deletes
the folder when ``fit`` finishes. The folder must outlive a killed process and must not
be found by a training with other data or other settings, so it is named after
:func:`backup_key` (the sha256 of the shards' manifest and of the training settings,
``force`` aside):

- ``dataqual train --run DIR`` trains into ``DIR/model``; its backup is
  ``DIR/model/.backup-<key16>/`` (:func:`model_backup_dir`).
- ``dataqual run --out OUT`` trains inside a staging folder that is new for every process
  (``.OUT.partial-<pid>-*``, swept when its process is dead), so its backup is beside
  ``OUT``: ``.OUT.train-backup-<key16>/`` (:func:`run_backup_dir`). The same command
  writes the same shards again (same manifest, same key) and resumes from it.

Either way the folder is removed once ``fit`` has finished. A resumed ``fit`` starts at
:func:`resume_epoch`; the trainer adds it to the data seed, so that the resumed epochs
see their batches in the same order as an uninterrupted run.

TensorBoard logs go to ``<model dir>/logs/``. Keras' ``TensorBoard`` callback writes them
with ``tf.summary`` on any backend, which needs the ``tensorflow`` and ``tensorboard``
packages; without either they are skipped and :func:`training_record` says why (e.g.
Keras on JAX on a CUDA machine without TensorFlow wheels).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from dataqual.files import atomic_path, sha256_file

__all__ = [
    "BACKUP_FILE",
    "INFERENCE_DIR",
    "LOGS_DIR",
    "SEEDS_FILE",
    "backup_key",
    "export_model",
    "model_backup_dir",
    "resume_epoch",
    "run_backup_dir",
    "run_backups",
    "tensorboard_skipped",
    "training_callbacks",
    "training_record",
]

#: The file of a backup folder that holds the next epoch (written by ``BackupAndRestore``).
BACKUP_FILE = "training_metadata.json"
#: The seed generators' states of the backup (written by :func:`training_callbacks`).
SEEDS_FILE = "seeds.npz"
#: TensorBoard logs, inside the model folder.
LOGS_DIR = "logs"
#: The inference-only export (a TensorFlow SavedModel), inside the model folder.
INFERENCE_DIR = "inference"


def backup_key(manifest_path: Path, config: BaseModel | dict[str, Any]) -> str:
    """Hex sha256 of the manifest file and of the training settings (all but ``force``,
    which changes nothing in the training itself)."""
    settings = config.model_dump(mode="json") if isinstance(config, BaseModel) else dict(config)
    settings.pop("force", None)
    text = json.dumps(
        {"manifest": sha256_file(manifest_path), "settings": settings}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def model_backup_dir(model_dir: Path, key: str) -> Path:
    """The backup of ``dataqual train --run DIR``, whose model folder is ``DIR/model``."""
    return Path(model_dir) / f".backup-{key[:16]}"


def run_backup_dir(out: Path, key: str) -> Path:
    """The backup of ``dataqual run --out OUT``: beside ``OUT``, outside its staging folder."""
    out = Path(out).absolute()
    return out.with_name(f".{out.name}.train-backup-{key[:16]}")


def run_backups(out: Path) -> list[Path]:
    """The training backups beside ``--out`` (any settings), oldest name first: what an
    interrupted ``dataqual run`` kept, for the same command to resume from."""
    out = Path(out).absolute()
    return sorted(out.parent.glob(f".{out.name}.train-backup-*"))


def resume_epoch(backup_dir: Path) -> int:
    """The epoch (0-based) a ``fit`` with this backup will start at: 0 without one."""
    try:
        return int(json.loads((Path(backup_dir) / BACKUP_FILE).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def tensorboard_skipped() -> str | None:
    """Why TensorBoard logs cannot be written here, or None when they can."""
    for package in ("tensorflow", "tensorboard"):
        if importlib.util.find_spec(package) is None:
            return (
                f"{package} is not installed (Keras' TensorBoard callback writes with tf.summary)"
            )
    return None


def training_callbacks(out_dir: Path, *, backup_dir: Path) -> list[Any]:
    """A ``BackupAndRestore`` into ``backup_dir`` (saved every epoch, the previous state
    kept too in case a kill lands mid-save, deleted when ``fit`` ends), beside it the
    state of the model's random seed generators (dropout masks), which Keras' backup
    leaves out, so that a resumed run draws the masks an uninterrupted one would; unless
    :func:`tensorboard_skipped`, a ``TensorBoard`` writing into ``out_dir/logs``."""
    import keras

    callbacks: list[Any] = [
        _seed_state(Path(backup_dir)),
        keras.callbacks.BackupAndRestore(
            str(backup_dir), save_freq="epoch", double_checkpoint=True, delete_checkpoint=True
        ),
    ]
    if tensorboard_skipped() is None:
        logs = Path(out_dir) / LOGS_DIR
        logs.mkdir(parents=True, exist_ok=True)
        callbacks.append(keras.callbacks.TensorBoard(str(logs), write_graph=False, profile_batch=0))
    return callbacks


def _seed_state(backup_dir: Path) -> Any:
    """A callback that saves the seed generators' states with each epoch's backup
    (``seeds.npz``, with its epoch) and restores them when the backup is of that epoch."""
    import keras

    path = backup_dir / SEEDS_FILE

    def seeds(model: Any) -> list[Any]:
        return [v for v in model.variables if v.path.endswith("seed_generator_state")]

    class SeedState(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            try:
                saved = np.load(path)
            except (OSError, ValueError):
                return
            variables = seeds(self.model)
            if (
                int(saved["epoch"]) != resume_epoch(backup_dir)
                or len(variables) != len(saved.files) - 1
            ):
                return
            for i, variable in enumerate(variables):
                variable.assign(saved[f"s{i}"])

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            backup_dir.mkdir(parents=True, exist_ok=True)
            states = {f"s{i}": np.asarray(v.numpy()) for i, v in enumerate(seeds(self.model))}
            with atomic_path(path) as tmp, tmp.open("wb") as f:
                np.savez(f, epoch=epoch + 1, **states)

    return SeedState()


def training_record(backup_dir: Path, resumed_from: int) -> dict[str, Any]:
    """What ``metrics.json`` records about checkpoints and logs: the backup folder, the
    epoch (1-based) a resumed run continued at (None: started afresh) and the logs."""
    skipped = tensorboard_skipped()
    return {
        "checkpoint": str(backup_dir),
        "resumed_from_epoch": resumed_from + 1 if resumed_from else None,
        "tensorboard_logs": None if skipped else LOGS_DIR,
        "tensorboard_skipped": skipped,
    }


def export_model(model: Any, out_dir: Path) -> dict[str, str]:
    """Write ``out_dir/model.keras`` and the inference-only SavedModel ``out_dir/inference``
    (each under a temporary name, then renamed). Returns their paths relative to
    ``out_dir`` by kind (``keras``, ``inference``), and ``inference_skipped`` with the
    reason where the SavedModel could not be written (it needs TensorFlow)."""
    import keras

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.keras") as tmp:
        keras.saving.save_model(model, tmp.with_suffix(".keras"))
        tmp.with_suffix(".keras").replace(tmp)
    written = {"keras": "model.keras"}
    skipped = _export_inference(model, out_dir / INFERENCE_DIR)
    if skipped:
        written["inference_skipped"] = skipped
    else:
        written["inference"] = INFERENCE_DIR
    return written


def _export_inference(model: Any, target: Path) -> str | None:
    """Export ``model`` as a SavedModel at ``target`` (replacing one there), or say why not."""
    if importlib.util.find_spec("tensorflow") is None:
        return "TensorFlow is not installed: Keras exports a SavedModel only through it"
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        model.export(str(tmp / "saved"), format="tf_saved_model", verbose=False)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        (tmp / "saved").rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except Exception as exc:
        return f"the SavedModel export failed: {type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return None
