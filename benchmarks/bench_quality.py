"""Benchmark: how well each check finds defects planted in real MNIST (precision and recall).

Not a timed test. It reads MNIST with dataqual's own reader, plants defects of every kind with
a fixed seed (label flips in 5 % of train and test rows; blank, near-constant and inverted
images; exact and near duplicates inside train; exact and near copies of test images in train),
writes the dirty dataset as IDX and runs the real pipeline (``run_pipeline``, no training) on
it. uint8 IDX cannot hold out-of-range or missing pixels, so a second run reads a CSV version
(the test split and part of train) with values > 255, negative, fractional and empty/NaN
cells. Precision and recall per defect type come from the raw-stage ``findings.parquet``
against the ground truth of what was planted; rows of other planted kinds that a check also
flags are reported as collateral. A run on clean MNIST lists what every check finds there and
times each stage and analyser; a sweep of the label audit's ``max_quality`` cap shows the
trade-off between flips found and clean rows flagged.

    python benchmarks/bench_quality.py [--source ../shared/datasets/mnist] [--seed 0]
        [--per-kind 200] [--flip-fraction 0.05] [--repeats 1] [--suites DIR]
        [--sweep none|cap|full] [--doc docs/quality.md] [--json PATH] [--workdir DIR]
        [--rows N]

Prints a JSON summary and writes the markdown tables to ``--doc`` (``-`` for none).
About 2.5 minutes on 2 cores (three pipeline runs, plus two label audits for the cap sweep);
``--sweep full --repeats 3`` (how docs/quality.md is made) about 4 minutes. A quick check
that it works: ``--rows 3000 --per-kind 30 --sweep none --doc -`` (under a minute).

The parts live in ``benchmarks/quality/``: planting, measuring, scoring, settings, rendering.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from quality.render import markdown
from quality.runs import measure_all
from quality.settings import effective_settings, threshold_summary

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "mnist"
DEFAULT_DOC = REPO / "docs" / "quality.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-kind", type=int, default=200)
    parser.add_argument("--flip-fraction", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=1, help="clean runs to time (median)")
    parser.add_argument("--suites", type=Path, default=None, help="suites folder to use")
    parser.add_argument(
        "--sweep",
        choices=["none", "cap", "full"],
        default="cap",
        help="label audit sweep: none, max_quality caps, or caps x alternative settings",
    )
    parser.add_argument("--doc", default=str(DEFAULT_DOC), help="markdown output, '-' for none")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and runs here")
    parser.add_argument(
        "--rows", type=int, default=None, help="quick check: first N train rows (test: N/6)"
    )
    return parser.parse_args(argv)


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces the run, defaults left out."""
    return " ".join(
        [
            "python benchmarks/bench_quality.py",
            f"--seed {args.seed}",
            f"--sweep {args.sweep}",
            f"--repeats {args.repeats}",
            *([f"--per-kind {args.per_kind}"] if args.per_kind != 200 else []),
            *([f"--flip-fraction {args.flip_fraction}"] if args.flip_fraction != 0.05 else []),
            *([f"--suites {args.suites}"] if args.suites else []),
            *([f"--rows {args.rows}"] if args.rows else []),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    import great_expectations  # noqa: F401  - a fixed import cost, outside the timings

    load_before = [round(v, 2) for v in os.getloadavg()]
    effective = effective_settings(args.suites)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dataqual-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        measured = measure_all(args, work, effective)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    summary = {
        "source": str(args.source),
        "command": command_line(args),
        "seed": args.seed,
        "per_kind": args.per_kind,
        "flip_fraction": args.flip_fraction,
        "repeats": args.repeats,
        "suites": str(args.suites) if args.suites else "expectations/ (default)",
        "thresholds": threshold_summary(effective),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "load_before": load_before,
            "load_after": [round(v, 2) for v in os.getloadavg()],
        },
        **measured,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.doc != "-":
        Path(args.doc).parent.mkdir(parents=True, exist_ok=True)
        Path(args.doc).write_text(markdown(summary))


if __name__ == "__main__":
    main()
