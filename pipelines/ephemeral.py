"""A private, short-lived Prefect API for one CLI command when no ``dataqual server`` runs.

Prefect's own ephemeral server is a child in the CLI's process group, so the terminal's
Ctrl-C kills it along with the run, and the run can then neither record its state nor end
cleanly. This one runs the same app (``uvicorn prefect.server.api.server:create_app``) in
its own session, so only the CLI receives the terminal's signals and stops it in order; the
kernel still terminates it if the CLI dies (``PR_SET_PDEATHSIG``), so it never outlives it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from pipelines.server import ServerProcess, _await_health, free_port

__all__ = ["start_private_server"]

_PR_SET_PDEATHSIG = 1


def _detach() -> None:
    """In the child, before exec: a session of its own, and SIGTERM when the parent dies."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start_private_server(home: Path, *, timeout: float = 90.0) -> ServerProcess:
    """Start Prefect's API on a free loopback port with ``home`` as PREFECT_HOME, wait until
    it answers, and stop it when this process exits. Its output goes to
    ``home/private-server.log``. Set ``PREFECT_API_URL`` to its ``api_url`` before Prefect
    is imported."""
    spec = importlib.util.find_spec("prefect")  # not imported: it reads settings at import
    assert spec is not None and spec.origin is not None
    port = free_port()
    log = home / "private-server.log"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(spec.origin).parent.parent),
    ]
    command += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_detach,  # only setsid and prctl, before exec
        )
    server = ServerProcess(process.pid, f"http://127.0.0.1:{port}", home, log, process)
    # atexit runs last-registered first: Prefect's log and event workers, registered when
    # the run starts, flush to this server before it stops.
    atexit.register(server.stop, 5.0)
    try:
        _await_health(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server
