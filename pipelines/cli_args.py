"""The ``dataqual`` command line's arguments: one function per subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataqual import __version__
from dataqual.imageset import DEFAULT_MAX_EXPANSION, DEFAULT_MAX_IMAGE_SIDE
from dataqual.store.shards import DEFAULT_SHARD_ROWS
from dataqual.train.trainer import TrainConfig

__all__ = ["Subparsers", "build_parser", "training_config"]

#: ``parser.add_subparsers()``'s result (argparse keeps its type private).
Subparsers = Any


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _shape(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH such as 28x28, got {text!r}"
        ) from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return height, width


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    """--epochs, --batch-size and --force, with TrainConfig's defaults."""
    fields = TrainConfig.model_fields
    epochs, batch = fields["epochs"].default, fields["batch_size"].default
    parser.add_argument(
        "--epochs", type=_positive_int, default=epochs, help=f"training epochs (default: {epochs})"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=batch,
        help=f"training batch size (default: {batch})",
    )
    parser.add_argument("--force", action="store_true", help="train even when validation failed")
    parser.add_argument(
        "--devices",
        type=_devices,
        default=fields["devices"].default,
        metavar="LIST",
        help="where to train: auto (every GPU, else the CPU), cpu, gpu, or a list such as "
        "gpu:0,gpu:1 (several: MirroredStrategy; multi-worker via TF_CONFIG) (default: auto)",
    )
    parser.add_argument(
        "--precision",
        choices=["float32", "mixed"],
        default=fields["precision"].default,
        help="mixed: mixed_float16, needs a GPU (default: float32)",
    )
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument(
        "--model",
        choices=["mlp", "cnn"],
        default=fields["model"].default,
        help="mlp: the reference 784-1024-1024-10 MLP; cnn: a small convnet (default: mlp)",
    )


def _devices(text: str) -> str:
    from pydantic import ValidationError

    try:
        return TrainConfig(devices=text).devices
    except ValidationError:
        raise argparse.ArgumentTypeError(
            f"expected auto, cpu, gpu or a list such as gpu:0,gpu:1, got {text!r}"
        ) from None


def training_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` that the training flags of ``run`` and ``train`` give."""
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        force=args.force,
        devices=args.devices,
        precision=args.precision,
        jit=args.jit,
        model=args.model,
    )


def build_parser(*extra_commands: Callable[[Subparsers], None]) -> argparse.ArgumentParser:
    """The ``dataqual`` parser; ``extra_commands`` each add a subcommand."""
    parser = argparse.ArgumentParser(
        prog="dataqual",
        description="Validate, clean, store and train on MNIST-style image datasets.",
        epilog="Exit codes: 0 passed, 1 failed validation, 2 bad input or usage, 3 internal "
        "error, 130/143 interrupted (SIGINT/SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"dataqual {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    parser.add_argument(
        "--prefect-home",
        type=Path,
        default=None,
        help="Prefect's state folder (default: $DATAQUAL_PREFECT_HOME or ~/.dataqual/prefect)",
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first: it registers extra checks, readers or repairs "
        "(repeatable; also $DATAQUAL_PLUGINS, comma-separated)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_train(sub)
    _add_fetch(sub)
    for add in extra_commands:
        add(sub)
    return parser


def _add_run(sub: Subparsers) -> None:
    run = sub.add_parser(
        "run",
        help="run the whole pipeline as a Prefect flow run",
        description="Ingest a dataset, validate it, clean it, store Parquet shards, validate the "
        "cleaned data again, write reports and train the reference model. Writes OUT/run.json.",
        epilog="Exit codes: 0 the cleaned data passes, 1 it still fails validation, "
        "2 bad input or usage, 3 internal error, 130 interrupted (Ctrl-C), 143 stopped by SIGTERM.",
    )
    _add_source_flags(run)
    _add_reading_flags(run)
    run.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    run.add_argument(
        "--no-train", action="store_true", help="stop after writing the shards and reports"
    )
    _add_training_flags(run)
    _add_cleaning_flags(run)
    run.add_argument(
        "--shard-rows",
        type=_positive_int,
        default=DEFAULT_SHARD_ROWS,
        help=f"rows per Parquet shard (default: {DEFAULT_SHARD_ROWS})",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="threads for chunk-parallel work (default: the cores available, at most 8)",
    )
    run.add_argument(
        "--wait-lock",
        nargs="?",
        const=600.0,
        type=float,
        default=None,
        metavar="SECONDS",
        help="if another run is writing --out, wait for it (up to SECONDS, default 600) "
        "instead of exiting 2",
    )
    run.add_argument(
        "--notify",
        action="append",
        default=[],
        metavar="URL",
        help="POST a JSON summary of the run to URL (repeatable; docs/alerts.md); "
        "a failing webhook never changes the exit code",
    )
    run.add_argument(
        "--dask-address",
        metavar="ADDRESS",
        help="run the stages on an existing Dask cluster (its scheduler, e.g. "
        "tcp://10.0.0.5:8786); --out must be on storage the workers share",
    )


def _add_cleaning_flags(run: argparse.ArgumentParser) -> None:
    """What cleaning does with suspected label errors, and whether to prove it paid."""
    run.add_argument(
        "--clean-labels",
        choices=["flag", "drop", "relabel"],
        default=None,
        help="what cleaning does with suspected label errors: flag (list them), drop "
        "(quarantine them), relabel (confident ones get the model's class; the original "
        "label stays in the findings) (default: the label suite's, flag)",
    )
    run.add_argument(
        "--compare-raw",
        action="store_true",
        help="also train the same model on the raw rows and put 'did cleaning help?' (both "
        "accuracies on the same test rows, per class too) in the report",
    )


def _add_source_flags(run: argparse.ArgumentParser) -> None:
    """What to read and against what: --source/--dataset, --out, suites, spec, reference."""
    src = run.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--source",
        type=Path,
        help="file or folder of MNIST-style data (IDX, npz, CSV, PNG folders, Parquet)",
    )
    src.add_argument("--dataset", help="a registered dataset by name (see `dataqual datasets`)")
    run.add_argument(
        "--out", type=Path, required=True, help="output folder (must be empty or absent)"
    )
    run.add_argument(
        "--format", help="force a reader instead of detecting the format from the content"
    )
    run.add_argument(
        "--mirror",
        type=Path,
        help="local folder laid out like the download sites (or $DATAQUAL_MIRROR)",
    )
    run.add_argument(
        "--cache-dir",
        type=Path,
        help="download cache (default: $DATAQUAL_CACHE_DIR or ~/.cache/dataqual)",
    )
    run.add_argument(
        "--suites", type=Path, help="folder of GX expectation suites (default: expectations/)"
    )
    run.add_argument(
        "--spec",
        type=Path,
        help="dataset spec JSON (classes, expected rows) overriding the inferred one",
    )
    run.add_argument(
        "--reference", type=Path, help="profile.parquet of an earlier run to measure drift against"
    )


def _add_reading_flags(run: argparse.ArgumentParser) -> None:
    """How to read: split, shape, size limits, Parquet columns."""
    run.add_argument(
        "--test-fraction",
        type=float,
        help="cut a single-split source into train/test: share of rows for test (stratified)",
    )
    run.add_argument(
        "--split-seed", type=int, default=0, help="seed of --test-fraction (default 0)"
    )
    run.add_argument(
        "--shape",
        type=_shape,
        help="image size HxW for CSV, image folders and Parquet (e.g. 28x28; default: inferred)",
    )
    run.add_argument(
        "--max-image-side",
        type=_positive_int,
        default=DEFAULT_MAX_IMAGE_SIDE,
        help="refuse images taller or wider than this many pixels, before reading them "
        f"(default: {DEFAULT_MAX_IMAGE_SIDE})",
    )
    run.add_argument(
        "--max-expansion",
        type=float,
        default=DEFAULT_MAX_EXPANSION,
        help="refuse a compressed source that expands to more than this many bytes per byte "
        f"on disk, past 64 MiB (a decompression bomb; default: {DEFAULT_MAX_EXPANSION:g})",
    )
    run.add_argument("--label-column", help="Parquet sources: the label column")
    run.add_argument("--image-column", help="Parquet sources: the image column")


def _add_train(sub: Subparsers) -> None:
    train = sub.add_parser(
        "train",
        help="train the reference model on a finished run's shards",
        description="Train on OUT/shards of an earlier `dataqual run`; refuses runs "
        "that failed validation unless --force.",
    )
    train.add_argument(
        "--run", type=Path, required=True, dest="run_dir", help="folder of a finished run"
    )
    _add_training_flags(train)


def _add_fetch(sub: Subparsers) -> None:
    fetch = sub.add_parser(
        "fetch",
        help="download a registered dataset and verify its checksums",
        description="Download (or copy from --mirror) a registered dataset into the cache.",
    )
    fetch.add_argument("name", help="dataset name, e.g. mnist")
    fetch.add_argument("--mirror", type=Path, help="local folder laid out like the download sites")
    fetch.add_argument("--cache-dir", type=Path, help="download cache")

    sub.add_parser(
        "datasets",
        help="list the registered datasets",
        description="List the datasets `--dataset` and `fetch` know, with their files.",
    )
