"""The ``dataqual`` command line: argument parsing, output and exit codes only.

Exit codes: 0 the (cleaned) data passed validation; 1 it still fails validation;
2 bad input or usage (the message names the file, the record and the problem);
3 an internal error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from dataqual import __version__
from dataqual.errors import DataqualError, ValidationFailed
from dataqual.imageset import DEFAULT_MAX_EXPANSION, DEFAULT_MAX_IMAGE_SIDE
from dataqual.plugins import load_plugins, plugins_from_env
from dataqual.store.shards import DEFAULT_SHARD_ROWS
from dataqual.train.trainer import TrainConfig
from pipelines.prefect_env import configure_prefect

__all__ = ["build_parser", "main"]

EXIT_PASSED, EXIT_FAILED_VALIDATION, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

log = logging.getLogger("dataqual.cli")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dataqual",
        description="Validate, clean, store and train on MNIST-style image datasets.",
        epilog="Exit codes: 0 passed, 1 failed validation, 2 bad input or usage, 3 internal error.",
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

    run = sub.add_parser(
        "run",
        help="run the whole pipeline as a Prefect flow run",
        description="Ingest a dataset, validate it, clean it, store Parquet shards, validate the "
        "cleaned data again, write reports and train the reference model. Writes OUT/run.json.",
        epilog="Exit codes: 0 the cleaned data passes, 1 it still fails validation, "
        "2 bad input or usage.",
    )
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
    run.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    run.add_argument(
        "--no-train", action="store_true", help="stop after writing the shards and reports"
    )
    _add_training_flags(run)
    run.add_argument(
        "--shard-rows",
        type=_positive_int,
        default=DEFAULT_SHARD_ROWS,
        help=f"rows per Parquet shard (default: {DEFAULT_SHARD_ROWS})",
    )

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
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("dataqual").setLevel(min(level, logging.INFO))


def _cmd_run(args: argparse.Namespace) -> int:
    from dataqual.config import RunConfig
    from dataqual.ingest.split import SplitSpec
    from dataqual.run import preflight
    from dataqual.train.trainer import TrainConfig

    config = RunConfig(
        source=args.source,
        dataset=args.dataset,
        mirror=args.mirror,
        cache_dir=args.cache_dir,
        format=args.format,
        split=(
            SplitSpec(test_fraction=args.test_fraction, seed=args.split_seed)
            if args.test_fraction is not None
            else None
        ),
        shape=args.shape,
        label_column=args.label_column,
        image_column=args.image_column,
        max_image_side=args.max_image_side,
        max_expansion=args.max_expansion,
        out=args.out,
        overwrite=args.overwrite,
        suites_dir=args.suites,
        spec_file=args.spec,
        reference=args.reference,
        shard_rows=args.shard_rows,
        train=not args.no_train,
        training=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, force=args.force),
        plugins=args.plugins,
    )
    preflight(config)  # bad input fails here in milliseconds, before Prefect starts
    from pipelines.flows import run_flow

    outcome = run_flow(config)
    s = outcome.summary
    c = s["counts"]
    print(
        f"{s['status']}: {c['rows']} rows, {c['kept']} kept, {c['repaired']} repaired, "
        f"{c['quarantined']} quarantined; training {s['training']}"
    )
    if outcome.failures:
        print(f"failed checks: {', '.join(outcome.failures)}")
    print(f"run.json: {outcome.run_json}")
    return outcome.exit_code


def _cmd_train(args: argparse.Namespace) -> int:
    from dataqual.train.trainer import TrainConfig
    from pipelines.flows import train_flow

    if not (args.run_dir / "run.json").is_file():
        raise DataqualError(
            f"{args.run_dir}: no run.json; give the --out folder of a finished `dataqual run`"
        )
    metrics = train_flow(
        args.run_dir, TrainConfig(epochs=args.epochs, batch_size=args.batch_size, force=args.force)
    )
    print(f"test accuracy {metrics['test_accuracy']:.4f} after {metrics['epochs']} epochs")
    return EXIT_PASSED


def _cmd_fetch(args: argparse.Namespace) -> int:
    from pipelines.flows import fetch_flow

    print(fetch_flow(args.name, cache_dir=args.cache_dir, mirror=args.mirror))
    return EXIT_PASSED


def _cmd_datasets(_: argparse.Namespace) -> int:
    from dataqual.ingest.registry import DATASETS

    for info in DATASETS.values():
        rows = ", ".join(f"{k} {v}" for k, v in info.split_rows.items())
        print(f"{info.name:15s} {rows}; {len(info.class_names)} classes; {info.homepage}")
    return EXIT_PASSED


COMMANDS = {"run": _cmd_run, "train": _cmd_train, "fetch": _cmd_fetch, "datasets": _cmd_datasets}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dataqual`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    configure_prefect(args.prefect_home, log_level="INFO" if args.verbose else "WARNING")
    try:
        args.plugins = [*plugins_from_env(), *args.plugin]
        load_plugins(args.plugins)
        return COMMANDS[args.command](args)
    except ValidationFailed as exc:
        print(f"dataqual: {exc}", file=sys.stderr)
        return EXIT_FAILED_VALIDATION
    except DataqualError as exc:
        print(f"dataqual: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValidationError as exc:
        print(f"dataqual: error: invalid settings: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.filename is None:  # not about a path the user gave: a bug or the machine
            log.exception("internal error")
            return EXIT_INTERNAL
        print(f"dataqual: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("dataqual: interrupted", file=sys.stderr)
        return 130
    except Exception:
        log.exception("internal error")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
