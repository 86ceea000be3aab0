"""``dataqual serve``: serve a scheduled deployment of the run on a real Prefect server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dataqual.errors import ConfigError
from pipelines.interrupts import exit_code

__all__ = ["add_serve_parser", "cmd_serve"]


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_serve_parser(sub: Any) -> None:
    """Add ``dataqual serve NAME (--source|--dataset) --out-root DIR (--cron|--interval)``."""
    serve = sub.add_parser(
        "serve",
        help="serve a scheduled run deployment (dataqual-scheduled/NAME) on a Prefect server",
        description="Serve the deployment dataqual-scheduled/NAME: on each scheduled time, run "
        "the pipeline into OUT_ROOT/<UTC time>-<flow-run id>/ and point OUT_ROOT/latest.json "
        "at it after success; a run whose source files, suites, options and dataqual version "
        "equal the latest run's writes only unchanged.json (unless --rerun). One run at a "
        "time; runs starting more than --max-late seconds late are skipped (Cancelled). "
        "Needs a Prefect server: start `dataqual server` (or set PREFECT_API_URL). Ctrl-C or "
        "SIGTERM stops it (exit 130 or 143) and pauses the deployment, however early it comes; "
        "serving again resumes it.",
    )
    serve.add_argument("name", help="deployment name (served as dataqual-scheduled/NAME)")
    what = serve.add_mutually_exclusive_group(required=True)
    what.add_argument("--source", type=Path, help="file or folder to ingest")
    what.add_argument("--dataset", help="registered dataset name, e.g. mnist")
    serve.add_argument("--out-root", type=Path, required=True, help="folder of run folders")
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="cron expression, e.g. '0 2 * * *'")
    when.add_argument("--interval", type=_seconds, help="seconds between runs")
    serve.add_argument("--timezone", default="UTC", help="IANA timezone of the schedule (UTC)")
    serve.add_argument("--rerun", action="store_true", help="run even when nothing changed")
    serve.add_argument(
        "--max-late",
        type=_seconds,
        default=None,
        help="skip a run that starts more than this many seconds late (default: one "
        "interval, at least 60 s; 3600 s for --cron)",
    )
    serve.add_argument("--suites", type=Path, default=None, help="folder of GX suites")
    serve.add_argument("--cache-dir", type=Path, default=None, help="dataset cache folder")
    serve.add_argument("--mirror", type=Path, default=None, help="local dataset mirror")
    serve.add_argument("--no-train", action="store_true", help="skip training")
    serve.add_argument("--epochs", type=int, default=None, help="training epochs")


def _api_url() -> str:
    from pipelines.server import server_healthy

    url = os.environ.get("PREFECT_API_URL")
    if not url:
        raise ConfigError(
            "serve needs a Prefect server that keeps schedules: start one with "
            "`dataqual server` (or set PREFECT_API_URL)"
        )
    if not server_healthy(url):
        raise ConfigError(f"no Prefect server answers at {url}; start one with `dataqual server`")
    return url


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM (exit 130 or 143, the deployment paused); exit 2
    (ConfigError) when no Prefect server answers."""
    from dataqual.config import RunConfig
    from dataqual.train.trainer import TrainConfig

    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--timezone {args.timezone!r}: not an IANA timezone") from None
    training = TrainConfig() if args.epochs is None else TrainConfig(epochs=args.epochs)
    config = RunConfig(
        source=args.source,
        dataset=args.dataset,
        mirror=args.mirror,
        cache_dir=args.cache_dir,
        out=args.out_root,  # replaced by each run's own folder
        suites_dir=args.suites,
        train=not args.no_train,
        training=training,
        plugins=list(getattr(args, "plugins", []) or []),
    ).absolute()
    url = _api_url()
    max_late = args.max_late
    if max_late is None:
        max_late = 3600.0 if args.cron else max(args.interval, 60.0)
    from pipelines.serve import serve

    print(f"serving dataqual-scheduled/{args.name} on {url} ({args.timezone}); Ctrl-C stops")
    stopped = serve(
        args.name,
        config,
        args.out_root,
        cron=args.cron,
        interval=args.interval,
        timezone=args.timezone,
        rerun=args.rerun,
        max_late=max_late,
    )
    print(_stop_line(args.name, stopped.pause_error), file=sys.stderr, flush=True)
    return 0 if stopped.signum is None else exit_code(stopped.signum)


def _stop_line(name: str, pause_error: str | None) -> str:
    if pause_error is not None:
        return f"dataqual: stopped; could not pause dataqual-scheduled/{name}: {pause_error}"
    return f"dataqual: stopped serving dataqual-scheduled/{name}; its schedule is paused"
