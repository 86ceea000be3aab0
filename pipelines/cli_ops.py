"""Operations subcommands of ``dataqual``: ``server``, ``trigger`` and ``runs``.

``add_ops_parsers(subparsers)`` adds them to the ``dataqual`` parser; ``OPS_COMMANDS`` maps each
name to its function (``args -> exit code``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dataqual.errors import ConfigError
from pipelines.server import DEFAULT_PORT, api_url_for, start_server

__all__ = ["OPS_COMMANDS", "add_ops_parsers", "cmd_runs", "cmd_server", "cmd_trigger"]

_NO_SERVER = (
    "no Prefect server: start one with `dataqual server` (or set PREFECT_API_URL to a server's API)"
)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_ops_parsers(sub: Any) -> None:
    """Add ``server``, ``trigger`` and ``runs`` to the ``dataqual`` subparsers."""
    server = sub.add_parser(
        "server",
        help="start a Prefect server on loopback in dataqual's Prefect home",
        description="Start `prefect server start` with dataqual's Prefect home and telemetry off, "
        "print its UI URL and the PREFECT_API_URL that points plain `prefect` commands at it, "
        "and run until Ctrl-C (exit 130). Other dataqual commands use it while it runs.",
    )
    server.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    server.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: 4200)")
    server.add_argument(
        "--no-warm",
        action="store_true",
        help="no warm runner: `run`, `train` and `fetch` then import Prefect themselves "
        "(about 3 s more before their first stage)",
    )
    trigger = sub.add_parser(
        "trigger",
        help="run a deployment on the Prefect server, optionally waiting for its result",
        description="Start a run of DEPLOYMENT (FLOW/NAME, e.g. dataqual-run/nightly). With "
        "--wait, print its states and logs and exit with the run's code: 0 passed, "
        "1 failed validation, 2 bad input, 3 crashed, cancelled or timed out.",
    )
    trigger.add_argument("deployment", metavar="DEPLOYMENT", help="FLOW/NAME")
    trigger.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeatable); VALUE is JSON when it parses, else a string; "
        "a.b=V sets b inside a (config.source=data/sample); paths are made absolute",
    )
    trigger.add_argument("--wait", action="store_true", help="follow the run to its end")
    trigger.add_argument(
        "--timeout", type=_positive, default=None, metavar="S", help="stop waiting after S s"
    )
    runs = sub.add_parser("runs", help="recent runs of the dataqual-run flow")
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="how many (default: 20)")


class _Terminated(Exception):
    """SIGTERM reached ``dataqual server``."""


def _on_sigterm(*_: Any) -> None:
    raise _Terminated


def cmd_server(args: argparse.Namespace) -> int:
    """Start the server, print where it is, wait; Ctrl-C (130) or SIGTERM (143) stop it."""
    home = _home(args)
    server = start_server(
        args.port,
        home,
        host=args.host,
        warm=not args.no_warm,
        warm_env=getattr(args, "launch_env", None),
    )
    print(f"Prefect server running (pid {server.pid}), home {home}")
    if server.warm is not None:
        print(f"Warm runner (pid {server.warm.pid}): run, train and fetch start in it")
    print(f"UI:  {server.url}")
    print("For plain `prefect` commands to see the same runs, set:")
    print(f"  export PREFECT_API_URL={server.api_url}")
    print("Ctrl-C stops it.", flush=True)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    code = 3
    try:
        assert server.process is not None
        while server.process.poll() is None:
            time.sleep(0.5)
        print(f"dataqual: prefect server exited ({server.process.returncode}); see {server.log}")
    except KeyboardInterrupt:
        code = 130
    except _Terminated:
        code = 143
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    print("dataqual: server stopped", file=sys.stderr)
    return code


def _home(args: argparse.Namespace) -> Path:
    from pipelines.prefect_env import default_prefect_home

    return Path(getattr(args, "prefect_home", None) or default_prefect_home())


@contextmanager
def _server_api(args: argparse.Namespace) -> Iterator[str]:
    """Point Prefect's client at ``$PREFECT_API_URL`` or the running ``dataqual server``."""
    url = api_url_for(_home(args))
    if url is None:
        raise ConfigError(_NO_SERVER)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}):
        yield url


def cmd_trigger(args: argparse.Namespace) -> int:
    """``dataqual trigger``: see :func:`pipelines.trigger.trigger`."""
    from pipelines.trigger import parse_params, trigger

    params = parse_params(args.param)
    with _server_api(args):
        return trigger(args.deployment, params, wait=args.wait, timeout=args.timeout)


def cmd_runs(args: argparse.Namespace) -> int:
    """``dataqual runs``: the run flow's recent runs, newest first."""
    from pipelines.trigger import recent_runs

    with _server_api(args) as url:
        rows = recent_runs(args.limit)
    if not rows:
        print(f"no runs of dataqual-run on {url}")
    for row in rows:
        print(row.line())
    return 0


OPS_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "server": cmd_server,
    "trigger": cmd_trigger,
    "runs": cmd_runs,
}
