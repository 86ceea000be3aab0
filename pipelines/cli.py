"""The ``dataqual`` command line: argument parsing, output and exit codes only.

Exit codes: 0 the (cleaned) data passed validation; 1 it still fails validation;
2 bad input or usage (the message names the file, the record and the problem);
3 an internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dataqual.errors import ConfigError, DataqualError, ValidationFailed
from dataqual.plugins import load_plugins, plugins_from_env
from pipelines import interrupts
from pipelines.cli_args import build_parser, training_config
from pipelines.cli_ops import OPS_COMMANDS, add_ops_parsers
from pipelines.cli_serve import add_serve_parser, cmd_serve
from pipelines.cli_suites import add_suites_parser, cmd_suites
from pipelines.console import show_progress
from pipelines.interrupts import handle_signals
from pipelines.logs import configure_logging, prefect_log_level
from pipelines.prefect_env import configure_prefect, quiet_expected_errors
from pipelines.runners import task_runner
from pipelines.server import running_server

if TYPE_CHECKING:
    from dataqual.run import RunOutcome

__all__ = ["build_parser", "final_lines", "main"]

EXIT_PASSED, EXIT_FAILED_VALIDATION, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

log = logging.getLogger("dataqual.cli")


def _settings_error(exc: ValidationError) -> str:
    """A pydantic error on one line: ``where: what`` for each problem."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(x) for x in error["loc"])
        what = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {what}" if where else what)
    return "; ".join(parts)


def _cmd_run(args: argparse.Namespace) -> int:
    from dataqual.config import RunConfig
    from dataqual.ingest.split import SplitSpec
    from dataqual.run import preflight

    if args.compare_raw and args.no_train:
        raise ConfigError("--compare-raw trains a second model: it cannot go with --no-train")
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
        training=training_config(args),
        clean_labels=args.clean_labels,
        compare_raw=args.compare_raw,
        plugins=args.plugins,
        workers=args.workers,
        wait_lock=args.wait_lock,
        notify=args.notify,
    )
    config = config.absolute()  # stored with the flow run: the same from any directory
    preflight(config)  # bad input fails here in milliseconds, before Prefect starts
    flows = _flows(args)
    runner = task_runner(args.dask_address)
    with show_progress():
        state = flows.run_flow.with_options(task_runner=runner)(config, return_state=True)
    if state.is_cancelled():
        print(interrupts.message(), file=sys.stderr)
        return interrupts.exit_code()
    outcome = flows.outcome_of(state)
    print("\n".join(final_lines(outcome)))
    if interrupts.received():  # after the run had finished: it is kept
        print(interrupts.message(), file=sys.stderr)
        return interrupts.exit_code()
    return outcome.exit_code


def final_lines(outcome: RunOutcome) -> list[str]:
    """What a finished run tells the user: the verdict and counts, the checks that failed,
    the warnings and drift that fired, the model's accuracy, the report and the wall time."""
    s = outcome.summary
    c = s.counts
    lines = [
        f"{s.status}: {c.rows} rows, {c.kept} kept, {c.repaired} repaired, "
        f"{c.quarantined} quarantined; training {s.training}"
    ]
    if outcome.failures:
        lines.append(f"failed checks: {', '.join(outcome.failures)}")
    fired = [w.label for w in s.warnings if not w.name.startswith("drift_")]
    if fired:
        lines.append(f"warnings: {', '.join(dict.fromkeys(fired))}")
    if drift := [d.label for d in s.drift if not d.success and not d.skipped]:
        lines.append(f"drift: {', '.join(drift)}")
    metrics = s.artefacts.get("metrics")
    if metrics and (outcome.run_json.parent / metrics).is_file():
        accuracy = json.loads((outcome.run_json.parent / metrics).read_text())["test_accuracy"]
        lines.append(f"test accuracy: {accuracy:.4f}")
    if report := s.artefacts.get("report"):
        lines.append(f"report: {(outcome.run_json.parent / report).as_uri()}")
    lines.append(f"run.json: {outcome.run_json} ({s.seconds:.1f} s)")
    return lines


def _flows(args: argparse.Namespace) -> Any:
    """``pipelines.flows``, imported only when a command needs Prefect. Without a running
    server, a private one is started for this command (see :mod:`pipelines.ephemeral`). At
    the default verbosity an expected error inside a task or flow run is not logged with a
    traceback: the CLI prints it as one line."""
    if not _api_configured():
        from pipelines.ephemeral import start_private_server

        os.environ["PREFECT_API_URL"] = start_private_server(args.prefect_home_dir).api_url
    from pipelines import flows

    if not args.verbose:
        quiet_expected_errors()
    return flows


def _api_configured() -> bool:
    """Whether Prefect already has an API to talk to: ``$PREFECT_API_URL``, or (when Prefect
    is already imported, as in a program that calls :func:`main`) its active settings."""
    if "PREFECT_API_URL" in os.environ:
        return True
    if "prefect" not in sys.modules:
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _cmd_train(args: argparse.Namespace) -> int:

    if not (args.run_dir / "run.json").is_file():
        raise DataqualError(
            f"{args.run_dir}: no run.json; give the --out folder of a finished `dataqual run`"
        )
    config = training_config(args)
    flows = _flows(args)
    with show_progress():
        metrics = flows.train_flow(args.run_dir, config)
    print(f"test accuracy {metrics['test_accuracy']:.4f} after {metrics['epochs']} epochs")
    return EXIT_PASSED


def _cmd_fetch(args: argparse.Namespace) -> int:
    print(_flows(args).fetch_flow(args.name, cache_dir=args.cache_dir, mirror=args.mirror))
    return EXIT_PASSED


def _cmd_datasets(_: argparse.Namespace) -> int:
    from dataqual.ingest.registry import DATASETS

    for info in DATASETS.values():
        rows = ", ".join(f"{k} {v}" for k, v in info.split_rows.items())
        print(f"{info.name:15s} {rows}; {len(info.class_names)} classes; {info.homepage}")
    return EXIT_PASSED


def _explain(args: argparse.Namespace, exc: BaseException, line: str) -> None:
    """Print an expected error as one line; with ``-v``, its traceback first."""
    if args.verbose:
        traceback.print_exception(exc, file=sys.stderr)
    print(line, file=sys.stderr)


#: Commands that a signal stops within seconds, leaving nothing half-written.
INTERRUPTIBLE = frozenset({"run", "train", "fetch"})

COMMANDS = {
    "suites": cmd_suites,
    "run": _cmd_run,
    "train": _cmd_train,
    "fetch": _cmd_fetch,
    "datasets": _cmd_datasets,
    "serve": cmd_serve,
    **OPS_COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dataqual`` console script; returns the exit code. A command
    stopped by SIGINT or SIGTERM exits at once (see :func:`interrupts.exit_now`)."""
    code = _main(argv)
    if interrupts.received():
        interrupts.exit_now(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser(add_suites_parser, add_ops_parsers, add_serve_parser)
    args = parser.parse_args(argv)
    args.launch_env = dict(os.environ)  # before dataqual's defaults: for the warm runner
    configure_logging(args.verbose)
    home = configure_prefect(args.prefect_home, log_level=prefect_log_level(args.verbose))
    if "PREFECT_API_URL" not in os.environ and (url := running_server(home)):
        os.environ["PREFECT_API_URL"] = url  # a running `dataqual server` keeps the runs
    args.prefect_home_dir = home
    try:
        # `server`, `serve` and `trigger` stop their own way on a signal
        stoppable = args.command in INTERRUPTIBLE
        with handle_signals() if stoppable else contextlib.nullcontext():
            args.plugins = [*plugins_from_env(), *args.plugin]
            load_plugins(args.plugins)
            return COMMANDS[args.command](args)
    except ValidationFailed as exc:
        _explain(args, exc, f"dataqual: {exc}")
        return EXIT_FAILED_VALIDATION
    except DataqualError as exc:
        _explain(args, exc, f"dataqual: error: {exc}")
        return EXIT_BAD_INPUT
    except ValidationError as exc:
        print(f"dataqual: error: invalid settings: {_settings_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.filename is None:  # not about a path the user gave: a bug or the machine
            log.exception("internal error")
            return EXIT_INTERNAL
        _explain(args, exc, f"dataqual: error: {exc.filename}: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into a pager or `head` that stopped reading
        sys.stderr.close()
        return EXIT_PASSED
    except KeyboardInterrupt as exc:
        print(interrupts.message(), file=sys.stderr)
        return interrupts.exit_code(interrupts.signal_of(exc))
    except Exception:
        log.exception("internal error")
        return EXIT_INTERNAL
    except BaseException as exc:  # Prefect's TerminationSignal: SIGTERM inside a flow run
        if (signum := interrupts.signal_of(exc)) is None:
            raise
        print(interrupts.message(), file=sys.stderr)
        return interrupts.exit_code(signum)


if __name__ == "__main__":
    sys.exit(main())
