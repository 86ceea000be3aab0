"""Benchmark: ingest memory is bounded — 10x MNIST must not need much more RSS than 1x.

Builds uncompressed IDX copies of MNIST tiled 1x and 10x (700,000 train images) in a temp
folder, then, each in a fresh process, streams every split through the reader and writes it
to zstd Parquet shards (the ingest path of a run), recording peak RSS. Goal: peak(10x) <=
1.3 x peak(1x). Medians over repeats.

    python benchmarks/bench_ingest_memory.py [--source ../shared/datasets/mnist] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "mnist"


def _gunzip(path: Path) -> bytes:
    with gzip.open(path) as f:
        return f.read()


def build(source: Path, folder: Path, times: int) -> None:
    """Uncompressed IDX files with the train split repeated ``times`` times, written in pieces."""
    folder.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        images = _gunzip(source / f"{prefix}-images-idx3-ubyte.gz")
        labels = _gunzip(source / f"{prefix}-labels-idx1-ubyte.gz")
        n = struct.unpack(">I", images[4:8])[0]
        reps = times if prefix == "train" else 1
        with (folder / f"{prefix}-images-idx3-ubyte").open("wb") as f:
            f.write(struct.pack(">HBBIII", 0, 8, 3, n * reps, 28, 28))
            for _ in range(reps):
                f.write(images[16:])
        with (folder / f"{prefix}-labels-idx1-ubyte").open("wb") as f:
            f.write(struct.pack(">HBBI", 0, 8, 1, n * reps))
            for _ in range(reps):
                f.write(labels[8:])


def ingest(folder: Path, out: Path) -> dict[str, float]:
    import pyarrow.parquet as pq

    from dataqual.ingest import open_source
    from dataqual.store.schema import batch_to_table, shard_schema

    t = time.perf_counter()
    source = open_source(folder)
    rows = 0
    for split in source.splits():
        with pq.ParquetWriter(
            out / f"{split.name}.parquet", shard_schema(*source.shape), compression="zstd"
        ) as writer:
            for batch in source.iter_batches(split.name):
                writer.write_table(batch_to_table(batch))
                rows += len(batch)
    return {"rows": rows, "seconds": time.perf_counter() - t}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            result = ingest(args.one, Path(tmp))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    tmp = Path(tempfile.mkdtemp(prefix="dataqual-bench-"))
    try:
        build(args.source, tmp / "x1", 1)
        build(args.source, tmp / "x10", 10)
        runs: dict[str, list[dict[str, float]]] = {"x1": [], "x10": []}
        for _ in range(args.repeats):
            for key in runs:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", str(tmp / key)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[key].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    print(
        json.dumps(
            {
                "median": med,
                "rss_ratio_x10_to_x1": med["x10"]["peak_rss_mib"] / med["x1"]["peak_rss_mib"],
                "goal": "<= 1.3",
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
