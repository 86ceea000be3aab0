"""Benchmark: MirroredStrategy on 2 logical CPU devices vs 1 replica, on real MNIST shards.

For each seed, trains the reference MLP (``--model mlp``: 784-1024-1024-10, dropout 0.5,
Adam, batch 128) with ``train_from_shards`` twice, same seed and epochs: (a) one replica
(``devices="cpu:0"``, the default strategy), (b) the CPU split into 2 logical devices and
``devices="cpu:0,cpu:1"`` (MirroredStrategy, 2 replicas: each global batch of 128 is split
64 + 64 and the gradients are summed) -- the code path of ``--devices cpu:0,cpu:1``. Each
configuration runs in its own interpreter, because the logical devices must be set up
before TensorFlow initialises. Both are evaluated on the untouched test split; the goal
(issue 11) is a difference of at most 0.5 points. ``--train-rows`` trains on the first N
rows of the train split only (a subset shard folder is written), to size a test.

    python benchmarks/bench_replicas.py --shards runs/mnist/shards [--epochs 3] [--seeds 0 1]
        [--train-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: argv = shards, out, replicas, TrainConfig JSON.
CHILD = """
import json, sys
import tensorflow as tf
if int(sys.argv[3]) > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    logical = [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[3])
    tf.config.set_logical_device_configuration(cpu, logical)
from dataqual.train.trainer import TrainConfig, train_from_shards
config = TrainConfig.model_validate_json(sys.argv[4])
result = train_from_shards(sys.argv[1], sys.argv[2], config, validation_passed=True)
print("METRICS " + json.dumps(result.metrics))
"""

KEYS = ("test_accuracy", "final_train_loss", "strategy", "replicas", "devices", "train_seconds")


def train(shards: Path, out: Path, replicas: int, config: dict) -> dict:
    """Train in a fresh interpreter with the CPU split into ``replicas`` logical devices."""
    devices = ",".join(f"cpu:{i}" for i in range(replicas))
    settings = json.dumps({**config, "devices": devices})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-c", CHILD, str(shards), str(out), str(replicas), settings]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{replicas} replica(s) failed:\n{done.stderr[-3000:]}")
    metrics = json.loads(done.stdout.split("METRICS ", 1)[1])
    return {k: metrics[k] for k in KEYS}


def subset(shards: Path, rows: int, folder: Path) -> Path:
    """A shard folder with the first ``rows`` train rows and the whole test split."""
    import pyarrow.parquet as pq
    from tests.helpers import make_shards

    from dataqual.store.schema import table_images

    def split(name: str, limit: int | None):
        table = pq.read_table(shards / name)
        table = table.slice(0, limit) if limit else table
        images = table_images(table, *_shape(shards))
        return images, table.column("label").to_numpy()

    x, y = split("train", rows)
    tx, ty = split("test", None)
    return make_shards(folder / "shards", x, y, tx, ty)


def _shape(shards: Path) -> tuple[int, int]:
    manifest = json.loads((shards / "manifest.json").read_text())
    return int(manifest["height"]), int(manifest["width"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--train-rows", type=int, help="train on the first N rows only")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards
        if args.train_rows:
            shards = subset(args.shards, args.train_rows, Path(tmp))
        results = []
        for seed in args.seeds:
            config = {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "seed": seed,
                "model": args.model,
            }
            runs = {}
            for replicas in (1, 2):
                started = time.perf_counter()
                out = Path(tmp) / f"seed{seed}-r{replicas}"
                runs[replicas] = train(shards, out, replicas, config)
                runs[replicas]["wall_seconds"] = round(time.perf_counter() - started, 1)
            diff = runs[2]["test_accuracy"] - runs[1]["test_accuracy"]
            results.append(
                {"seed": seed, "one": runs[1], "two": runs[2], "diff_points": diff * 100}
            )
            print(json.dumps(results[-1]), flush=True)
    print(
        json.dumps(
            {
                "model": args.model,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "train_rows": args.train_rows or "all",
                "load_average": os.getloadavg(),
                "max_abs_diff_points": max(abs(r["diff_points"]) for r in results),
                "goal": "<= 0.5 points",
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
