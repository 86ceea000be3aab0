"""A real Prefect server for dataqual: ``prefect server start`` on loopback, in dataqual's
Prefect home, with telemetry off, and a record of it so the CLI can find it.

Nothing here imports Prefect: the server runs in a child process, and health checks are
plain HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dataqual.errors import ConfigError, DataqualError

__all__ = [
    "DEFAULT_PORT",
    "SERVER_RECORD",
    "ServerProcess",
    "api_url_for",
    "free_port",
    "pid_alive",
    "running_server",
    "servable",
    "server_healthy",
    "start_server",
]

DEFAULT_PORT = 4200
#: The file in the Prefect home that names the server ``dataqual server`` started.
SERVER_RECORD = "dataqual-server.json"
_LOOPBACK = "127.0.0.1"


@dataclass
class ServerProcess:
    """A running ``prefect server start``: its pid, base URL (the UI) and log file."""

    pid: int
    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: The warm runner (:mod:`pipelines.warm`) started with it, if any.
    warm: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        """The value of ``PREFECT_API_URL`` that points plain ``prefect`` at this server."""
        return f"{self.url}/api"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the server (SIGKILL after ``timeout`` s), forget its record, and return
        its exit status (None when it was not our child). Its warm runner stops first."""
        if self.warm is not None:
            self.warm.terminate()
            try:
                self.warm.wait(timeout)
            except subprocess.TimeoutExpired:
                self.warm.kill()
                self.warm.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        code = self._wait(timeout)
        if code is None and pid_alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            code = self._wait(5.0)
        record = self.home / SERVER_RECORD
        with contextlib.suppress(OSError, ValueError):
            if json.loads(record.read_text())["pid"] == self.pid:
                record.unlink()
        return code

    def _wait(self, timeout: float) -> int | None:
        if self.process is not None:
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        deadline = time.monotonic() + timeout
        while pid_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port(host: str = _LOOPBACK) -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def server_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Whether the Prefect API at ``api_url`` answers its health endpoint."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _server_env(home: Path, host: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_API_HOST=host,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_ENABLED="true",
        PREFECT_SERVER_UI_ENABLED="true",
        PREFECT_UI_API_URL=f"http://{host}:{port}/api",
    )
    return env


def start_server(
    port: int = DEFAULT_PORT,
    home: Path | None = None,
    *,
    host: str = _LOOPBACK,
    timeout: float = 90.0,
    warm: bool = True,
    warm_env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Start ``prefect server start`` on ``host:port`` with ``home`` as PREFECT_HOME (default:
    dataqual's Prefect home), wait until its health endpoint answers, record it in
    ``home/dataqual-server.json`` and return it. Its output goes to ``home/server.log``.

    With ``warm``, a warm runner (:mod:`pipelines.warm`) starts beside it, in ``warm_env``
    (default: this process's environment): once it is ready (a few seconds later),
    ``dataqual run|train|fetch`` started in that environment with this home start in it.

    Raises :class:`ConfigError` when the port is taken and :class:`DataqualError` when the
    server exits or does not answer within ``timeout`` seconds (it is stopped then)."""
    from pipelines.prefect_env import default_prefect_home

    home = Path(home or default_prefect_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if _port_in_use(host, port):
        raise ConfigError(f"port {port} on {host} is in use; choose another with --port")
    log = home / "server.log"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host]
    command += ["--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env=_server_env(home, host, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the terminal's Ctrl-C reaches us; we stop it in order
        )
    server = ServerProcess(process.pid, f"http://{host}:{port}", home, log, process)
    try:
        _await_health(server, timeout)
    except BaseException:  # Ctrl-C while it starts too: never leave it running
        server.stop()
        raise
    record = {"pid": server.pid, "url": server.url, "started": datetime.now(UTC).isoformat()}
    tmp = home / f".{SERVER_RECORD}.{server.pid}"
    tmp.write_text(json.dumps(record))
    tmp.replace(home / SERVER_RECORD)
    if warm:
        from pipelines.warm import start_warm

        server.warm = start_warm(home, server.api_url, server.pid, warm_env)
    return server


def _await_health(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise DataqualError(
                f"prefect server exited with status {server.process.returncode} "
                f"before answering; see {server.log}"
            )
        if server_healthy(server.api_url, timeout=1.0):
            return
        time.sleep(0.25)
    raise DataqualError(f"prefect server did not answer within {timeout:.0f} s; see {server.log}")


def running_server(home: Path | None = None) -> str | None:
    """The API URL of the server ``dataqual server`` started in ``home``, when its process is
    alive and it answers; else None (a stale record is removed)."""
    from pipelines.prefect_env import default_prefect_home

    record = Path(home or default_prefect_home()) / SERVER_RECORD
    try:
        data = json.loads(record.read_text())
        pid, url = int(data["pid"]), str(data["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(pid):
        with contextlib.suppress(OSError):
            record.unlink()
        return None
    api = f"{url}/api"
    return api if server_healthy(api, timeout=1.0) else None


def api_url_for(home: Path | None = None) -> str | None:
    """``$PREFECT_API_URL`` when set, else the running ``dataqual server`` in ``home``."""
    return os.environ.get("PREFECT_API_URL") or running_server(home)


def servable(flow: Any) -> Any:
    """``flow`` with its function's annotations resolved to the classes they name, in place.

    ``flow.serve`` runs each flow run in a subprocess from a cloudpickle of the flow, which
    pickles the function by value with only the globals its code uses. A string annotation
    (``from __future__ import annotations``) such as ``config: RunConfig`` then names nothing
    there and Prefect's parameter validation fails ("``Run_FlowModel`` is not fully
    defined"). Resolved annotations are pickled by reference."""
    flow.fn.__annotations__ = typing.get_type_hints(flow.fn)
    return flow
