"""Benchmark: training throughput fed from Parquet shards vs from in-memory arrays.

Runs a model of the trainer's (``--model mlp``, the reference 784-1024-1024-10, dropout
0.5, Adam; or ``--model cnn``, the small convnet), batch 128, on MNIST's train split twice
per repeat, alternating: (a) `model.fit` on NumPy arrays held in memory, (b) the
streaming shard pipeline (`ShardDataset.to_tf`, or NumPy batches on non-TF backends). The
first epoch of each (tracing, warm-up) is excluded; throughput is images/s over the rest.
Goal: shard-fed throughput within 5% of in-memory. Needs a shard folder from a run
(`dataqual run --source ../shared/datasets/mnist --out runs/mnist --no-train`), or builds one.

    python benchmarks/bench_training.py [--shards runs/mnist/shards] [--model mlp|cnn] [--jit]
        [--epochs 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed_fit(model, data, epochs: int, **kwargs) -> list[float]:
    import keras

    durations: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            durations.append(time.perf_counter() - self.t)

    model.fit(data, epochs=epochs, verbose=0, callbacks=[Timer()], **kwargs)
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--jit", action="store_true", help="XLA, as the trainer's --jit")
    args = parser.parse_args()
    import keras
    import numpy as np
    import pyarrow.parquet as pq

    from dataqual.store.schema import table_images
    from dataqual.train.data import ShardDataset
    from dataqual.train.model import build_model

    tmp = None
    shards = args.shards
    if shards is None:
        from dataqual.config import RunConfig
        from dataqual.run import run_pipeline

        tmp = tempfile.TemporaryDirectory()
        run_pipeline(
            RunConfig(
                source=REPO.parent / "shared" / "datasets" / "mnist",
                out=Path(tmp.name) / "run",
                train=False,
            )
        )
        shards = Path(tmp.name) / "run" / "shards"
    ds = ShardDataset(shards, "train")
    table = pq.read_table(shards / "train")
    x = table_images(table, ds.height, ds.width).reshape(-1, ds.features)
    x = x.astype(np.float32) / 255.0
    y = table.column("label").to_numpy()
    classes = int(y.max()) + 1
    rates: dict[str, list[float]] = {"memory": [], "shards": []}
    for rep in range(args.repeats):
        for kind in ("memory", "shards") if rep % 2 == 0 else ("shards", "memory"):
            model = build_model(
                args.model, ds.height, ds.width, classes, seed=rep, jit_compile=args.jit
            )
            if kind == "memory":
                d = _timed_fit(model, x, args.epochs, y=y, batch_size=128, shuffle=True)
            elif keras.backend.backend() == "tensorflow":
                d = _timed_fit(model, ds.to_tf(128, shuffle=True), args.epochs, shuffle=False)
            else:
                d = _timed_fit(model, ds.epochs(128), args.epochs, steps_per_epoch=ds.steps(128))
            steady = d[1:] or d
            rates[kind].append(len(y) * len(steady) / sum(steady))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "model": args.model,
                "jit": args.jit,
                "epochs": args.epochs,
                "repeats": args.repeats,
                "images_per_second_median": med,
                "ratio_shards_to_memory": med["shards"] / med["memory"],
                "goal": ">= 0.95",
                "runs": rates,
            },
            indent=2,
        )
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
