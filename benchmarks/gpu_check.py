"""GPU check (issue 11, item 7): MNIST shards, the reference MLP for 3 epochs, img/s and accuracy.

Run through ``benchmarks/gpu_check.sh``, which picks the Keras backend (TensorFlow when it
sees a GPU, else JAX) before Keras is imported. Steps:

1. Shards: ``run_pipeline(train=False)`` on ``--source`` (the same as
   ``dataqual run --source ... --out ... --no-train``), or ``--shards`` from an earlier run.
   ``--rows N`` first copies the first N train rows (and N/6 test rows) into a small IDX
   dataset: a smoke run, not a measurement.
2. Input pipeline alone: two passes over the train split with the trainer's own input
   (``ShardDataset.to_tf`` on TensorFlow, NumPy batches on JAX); img/s of the second.
3. Training: ``train_from_shards`` (3 epochs, batch 128, ``--devices/--precision/--jit``);
   img/s over epochs 2-3 (the first pays for tracing) and the test accuracy.

On the JAX path nothing imports TensorFlow: the shards are written with pyarrow and the
trainer feeds NumPy batches. Prints one JSON object (and a one-line summary on stderr).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def _read_idx(path: Path, offset: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _subset(source: Path, rows: int, out: Path) -> Path:
    """The first ``rows`` train and ``rows // 6`` test rows of an MNIST IDX folder."""
    from dataqual.testing import write_idx_dataset

    data = {}
    for split, prefix, n in (("train", "train", rows), ("test", "t10k", max(rows // 6, 10))):
        images = _read_idx(next(source.glob(f"{prefix}-images-idx3-ubyte*")), 16)
        labels = _read_idx(next(source.glob(f"{prefix}-labels-idx1-ubyte*")), 8)
        data[split] = (images.reshape(-1, 28, 28)[:n], labels[:n])
    return write_idx_dataset(out, data)


def _device_name(backend: str) -> str:
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
        return details.get("device_name", "GPU") if gpus else "CPU"
    if backend == "jax":
        import jax

        return f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"
    return "CPU"


def _input_rate(shards: Path, backend: str, batch: int) -> float:
    """img/s of the trainer's input pipeline alone (second of two passes)."""
    from dataqual.train.data import ShardDataset

    train = ShardDataset(shards, "train")
    rate = 0.0
    for epoch in range(2):
        started = time.perf_counter()
        if backend == "tensorflow":
            rows = sum(int(x.shape[0]) for x, _ in train.to_tf(batch, shuffle=True, seed=epoch))
        else:
            rows = sum(len(x) for x, _ in train.batches(batch, shuffle=True, seed=epoch))
        rate = rows / (time.perf_counter() - started)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared/datasets/mnist")
    parser.add_argument("--shards", type=Path, help="shards of an earlier run (skips step 1)")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder")
    parser.add_argument("--rows", type=int, help="smoke run: only the first ROWS train rows")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--devices", default="auto")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed"])
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    args = parser.parse_args()

    import keras

    from dataqual.train.trainer import TrainConfig, train_from_shards

    backend = keras.backend.backend()
    shards = args.shards
    started = time.perf_counter()
    if shards is None:
        from dataqual.config import RunConfig
        from dataqual.run import run_pipeline

        source = _subset(args.source, args.rows, args.work / "src") if args.rows else args.source
        run_pipeline(RunConfig(source=source, out=args.work / "run", train=False))
        shards = args.work / "run" / "shards"
    shard_seconds = time.perf_counter() - started
    input_rate = _input_rate(shards, backend, 128)
    config = TrainConfig(
        epochs=args.epochs, devices=args.devices, precision=args.precision, jit=args.jit,
        model=args.model,
    )  # fmt: skip
    metrics = train_from_shards(shards, args.work / "model", config, validation_passed=True).metrics
    result = {
        "device": _device_name(backend),
        **{k: metrics[k] for k in ("backend", "devices", "strategy", "replicas", "precision")},
        **{k: metrics[k] for k in ("jit", "model", "epochs", "train_rows", "test_rows")},
        "shard_seconds": round(shard_seconds, 1),
        "input_images_per_second": round(input_rate),
        "train_images_per_second": round(metrics["images_per_second"] or 0),
        "test_accuracy": metrics["test_accuracy"],
        "smoke_run": bool(args.rows),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    print(json.dumps(result, indent=2))
    print(
        f"{result['device']} ({backend}): input {result['input_images_per_second']} img/s, "
        f"training {result['train_images_per_second']} img/s, "
        f"test accuracy {metrics['test_accuracy']:.4f} after {args.epochs} epochs",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
