"""Helpers for the ``server`` / ``trigger`` / ``runs`` tests: run ``dataqual`` as a real
process, and serve a real deployment of the run flow against a real server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# Until pipelines/cli.py lists the ops commands, the tests drive them through the same
# parser builder with only these commands added.
_RUNNER = """
import sys
from pipelines.cli_args import build_parser
from pipelines.cli_ops import OPS_COMMANDS, add_ops_parsers
from pipelines.prefect_env import configure_prefect
args = build_parser(add_ops_parsers).parse_args(sys.argv[1:])
configure_prefect(args.prefect_home)
try:
    sys.exit(OPS_COMMANDS[args.command](args))
except Exception as exc:
    from dataqual.errors import DataqualError
    if not isinstance(exc, DataqualError):
        raise
    print(f"dataqual: error: {exc}", file=sys.stderr)
    sys.exit(2)
"""


def dataqual_command(*args: str) -> list[str]:
    """The command line of ``dataqual ARGS`` (``python -m pipelines`` once the CLI has the
    ops commands)."""
    from pipelines import cli

    if "trigger" in getattr(cli, "COMMANDS", {}):
        return [sys.executable, "-m", "pipelines", *args]
    return [sys.executable, "-c", _RUNNER, *args]


def env_for(home: Path, api_url: str | None) -> dict[str, str]:
    """The environment of a process that talks to the server at ``api_url`` (or none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        DATAQUAL_PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PYTHONPATH=str(REPO),
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def stop_pid(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process by its pid, SIGKILL it when it does not stop in time."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(5)


_SERVE = """
import sys
from pipelines.flows import run_flow
from pipelines.server import servable
servable(run_flow).serve(name=sys.argv[1], limit=1)
"""


def _deployment_exists(api_url: str, name: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/deployments/name/{name}", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def served_run_flow(
    name: str, env: dict[str, str], log: Path, timeout: float = 120
) -> Iterator[None]:
    """``run_flow.serve(name=NAME)`` in a real process, once the server has the deployment
    ``dataqual-run/NAME``; stopped by its pid afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVE, name],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _deployment_exists(env["PREFECT_API_URL"], f"dataqual-run/{name}"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serving failed: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        stop_pid(process)


def start_warm_server(home: Path, timeout: float = 120.0) -> Any:
    """A real server whose warm runner takes the commands started with
    :func:`env_for` ``(home, None)`` (it runs in that environment); returned once the runner
    is ready."""
    from pipelines.server import free_port, start_server
    from pipelines.warm_client import WARM_RECORD

    server = start_server(free_port(), home, warm_env=env_for(home, None))
    deadline = time.monotonic() + timeout
    while not (home / WARM_RECORD).is_file():
        if time.monotonic() > deadline or server.warm is None or server.warm.poll() is not None:
            server.stop()
            raise RuntimeError(f"no warm runner in {home}: {(home / 'warm.log').read_text()}")
        time.sleep(0.2)
    return server


def warm_log(home: Path) -> str:
    """What the warm runner of ``home`` logged: ``warm: pid N: dataqual ARGS`` per command
    it took and ``warm: pid N exited CODE`` when it ended."""
    path = home / "warm.log"
    return path.read_text() if path.is_file() else ""
