"""Benchmark: the pipeline without training against the I/O floor, on full MNIST.

The floor is what any tool must do: gunzip and parse the four IDX files and write the same
rows to zstd Parquet with pyarrow. "stages" is dataqual's ingest -> profile -> validate ->
clean -> shard + validate-cleaned (``dataqual.run.process``, the pipeline's own recipe: the
store pass runs while the cleaned data is validated, so stage times overlap and do not add
up to the total) with the core suites (completeness, accuracy, exact
duplicates and leakage: the checks of issue 2), in a process where GX is already imported
(its import is a fixed cost). "run" is the whole `run_pipeline` without training, with every
shipped suite (near duplicates, the cleanlab label audit and drift included) plus Data Docs
and the HTML report. Each measurement runs in its own process so peak RSS is its own; runs
alternate and medians are reported.

    python benchmarks/bench_pipeline.py [--source ../shared/datasets/mnist] [--repeats 3]
                                        [--without-run] [--baseline OLD_CHECKOUT/src]
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "mnist"
CORE_SUITES = ("completeness", "accuracy", "duplicates")


def _gunzip(path: Path) -> bytes:
    with gzip.open(path) as f:
        return f.read()


def floor(source: Path, out: Path) -> float:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = time.perf_counter()
    for prefix, split in (("train", "train"), ("t10k", "test")):
        images = _gunzip(source / f"{prefix}-images-idx3-ubyte.gz")
        labels = _gunzip(source / f"{prefix}-labels-idx1-ubyte.gz")
        x = np.frombuffer(images, np.uint8, offset=16)
        y = np.frombuffer(labels, np.uint8, offset=8).astype(np.int64)
        n = len(y)
        table = pa.table(
            {
                "id": pa.array([f"{split}/{i}" for i in range(n)]),
                "split": pa.array([split] * n),
                "label": y,
                "image": pa.FixedSizeBinaryArray.from_buffers(
                    pa.binary(784), n, [None, pa.py_buffer(x)]
                ),
            }
        )
        pq.write_table(table, out / f"{split}.parquet", compression="zstd")
    return time.perf_counter() - t


def stages(source: Path, out: Path) -> dict[str, float]:
    import great_expectations  # noqa: F401  - fixed cost, outside the timing

    from dataqual import run as st
    from dataqual.config import RunConfig
    from dataqual.validate.suites import default_suites_dir  # the measured tree's suites

    suites = out / "suites"
    suites.mkdir()
    for name in CORE_SUITES:
        shutil.copy(default_suites_dir() / f"{name}.json", suites)
    config = RunConfig(source=source, out=out / "run", train=False, suites_dir=suites)
    times: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[name] = time.perf_counter() - t

        return run

    t0 = time.perf_counter()
    ws = st.open_workspace(config)
    if "stage" in inspect.signature(st.process).parameters:  # before issue 9: a stage wrapper
        st.process(ws, config, stage=timed)
    else:  # the pipeline's own recipe, timed by stage; store runs concurrently
        times.update(st.process(ws, config).timings)
    times["total"] = time.perf_counter() - t0
    st.discard(ws)
    return {name.replace("-", "_"): seconds for name, seconds in times.items()}


def full_run(source: Path, out: Path) -> dict[str, float]:
    t = time.perf_counter()
    import great_expectations  # noqa: F401

    imports = time.perf_counter() - t
    from dataqual.config import RunConfig
    from dataqual.run import run_pipeline

    t = time.perf_counter()
    run_pipeline(RunConfig(source=source, out=out / "run", train=False))
    return {"total": time.perf_counter() - t, "gx_import": imports}


def _one(kind: str, source: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if kind == "floor":
            result: dict[str, float] = {"total": floor(source, out)}
        elif kind == "stages":
            result = stages(source, out)
        else:
            result = full_run(source, out)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _measure(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Every kind once per repeat, alternating, each in a fresh process."""
    kinds = ["floor", "stages"] + ([] if args.without_run else ["run"])
    kinds += ["baseline"] if args.baseline else []
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for _ in range(args.repeats):
        for kind in runs:
            one = "stages" if kind == "baseline" else kind
            extra = {"PYTHONPATH": str(args.baseline)} if kind == "baseline" else {}
            out = subprocess.run(
                [sys.executable, __file__, "--one", one, "--source", str(args.source)],
                capture_output=True,
                text=True,
                check=True,
                env=env | extra,
            )
            runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def _ratios(runs: dict[str, list[dict[str, float]]], kind: str) -> dict[str, float]:
    """``kind`` against the floor: ratio of medians and median of per-repeat ratios."""
    floor_s = [r["total"] for r in runs["floor"]]
    kind_s = [r["total"] for r in runs[kind]]
    return {
        "ratio_of_medians": statistics.median(kind_s) / statistics.median(floor_s),
        "median_of_ratios": statistics.median(k / f for f, k in zip(floor_s, kind_s, strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--without-run",
        action="store_true",
        help="measure only the floor and the stages (the whole run takes ~25 s a repeat)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also measure the stages of another dataqual (its src/ folder, put first on "
        "PYTHONPATH), alternating in the same run: before/after figures on one machine state",
    )
    parser.add_argument("--one", choices=["floor", "stages", "run"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one, args.source)
        return
    runs = _measure(args)
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    stages_ratio = _ratios(runs, "stages")
    report = {
        "source": str(args.source),
        "repeats": args.repeats,
        "median": med,
        "ratio_stages_to_floor": stages_ratio["ratio_of_medians"],
        "ratio_stages_to_floor_per_repeat": stages_ratio["median_of_ratios"],
        "ratio_run_to_floor": med["run"]["total"] / med["floor"]["total"] if "run" in med else None,
        "baseline": {"src": str(args.baseline), **_ratios(runs, "baseline")}
        if args.baseline
        else None,
        "runs": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
