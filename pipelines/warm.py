"""The warm runner: one process per ``dataqual server`` that imports Prefect, pandas, GX and
dataqual once, then runs each ``dataqual run|train|fetch`` handed to it in a fork of itself,
so a command reaches its first stage without paying ~3 s of imports.

The client (:mod:`pipelines.warm_client`) sends its arguments, working folder, environment
and its stdin/stdout/stderr over a Unix socket. The fork takes them over and runs
:func:`pipelines.cli.main` exactly as the command would have; the runner sends the fork's pid
back (the client forwards SIGINT/SIGTERM/SIGHUP to it) and, once it has reaped the fork, its
exit code. A client that goes away (``kill -9``) has its command stopped with SIGTERM.

The runner is single-threaded (a fork copies only the calling thread) and refuses a command
whose Prefect environment differs from the one it imported Prefect with; the client then
runs it itself. It stops with the server it belongs to.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from hashlib import sha256
from pathlib import Path
from typing import Any, NoReturn

from pipelines.server import pid_alive
from pipelines.warm_client import (
    WARM_RECORD,
    code_fingerprint,
    effective_env,
    env_digest,
)

__all__ = ["PRELOADED", "WarmRunner", "main", "start_warm", "warm_socket_path"]

#: Modules the runner imports before it takes commands: what a ``--no-train`` run needs.
#: TensorFlow is left out on purpose (its thread pools must not exist before a fork).
PRELOADED = (
    "pipelines.cli",
    "pipelines.flows",
    "dataqual.run",
    "great_expectations",
    "sklearn.neighbors",
    "sklearn.decomposition",
)
_MAX_REQUEST = 1 << 22


def warm_socket_path(home: Path) -> Path:
    """The runner's socket: in ``home`` when the path fits a Unix socket address, else in
    the temporary folder under a name derived from ``home``."""
    path = home.resolve() / "warm.sock"
    if len(os.fsencode(path)) < 100:
        return path
    name = sha256(os.fsencode(home.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dataqual-warm-{os.getuid()}-{name}.sock"


def start_warm(
    home: Path, api_url: str, server_pid: int, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the warm runner of the server ``server_pid`` (API ``api_url``) in ``home``, in
    ``env`` (default: this process's environment); it writes ``home/warm.log``, and its
    record when ready. It takes the commands started in an environment like ``env``."""
    env = {k: v for k, v in (os.environ if env is None else env).items()}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "pipelines.warm", str(home), api_url, str(server_pid)]
    with (home / "warm.log").open("ab") as log:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class WarmRunner:
    """The runner's event loop: accept commands, fork them, reap them, report exit codes."""

    def __init__(self, home: Path, api_url: str, server_pid: int, env_key: str) -> None:
        self.home, self.api_url, self.server_pid, self.env_key = home, api_url, server_pid, env_key
        self.socket_path = warm_socket_path(home)
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.wake_r, self.wake_w = os.pipe()
        self.running: dict[int, socket.socket] = {}  # pid -> its client's connection
        self.stopping = False

    def open(self) -> None:
        """Listen on the socket, route signals through the wake-up pipe, write the record."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        umask = os.umask(0o177)  # the socket is the owner's alone from the start
        try:
            self.listener.bind(str(self.socket_path))
        finally:
            os.umask(umask)
        self.listener.listen(16)
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        record = {
            "pid": os.getpid(),
            "socket": str(self.socket_path),
            "api_url": self.api_url,
            "code": code_fingerprint(),
            "env": self.env_key,
        }
        tmp = self.home / f".{WARM_RECORD}.{os.getpid()}"
        tmp.write_text(json.dumps(record))
        tmp.replace(self.home / WARM_RECORD)

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    def serve(self) -> None:
        """Take commands until SIGTERM/SIGINT or the server's exit; then stop the commands
        still running (SIGTERM) and wait for them."""
        while not self.stopping or self.running:
            for key, _ in self.selector.select(timeout=1.0):
                if key.data == "accept" and not self.stopping:
                    self._accept()
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 512)
                elif isinstance(key.data, int):
                    self._client_readable(key.fileobj, key.data)  # type: ignore[arg-type]
            self._reap()
            if not self.stopping and not pid_alive(self.server_pid):
                self.stopping = True
            if self.stopping and self.listener.fileno() >= 0:
                self._close_listener()
                for pid in self.running:
                    _signal(pid, signal.SIGTERM)

    def _close_listener(self) -> None:
        self.selector.unregister(self.listener)
        self.listener.close()
        with contextlib.suppress(OSError, ValueError):
            if json.loads((self.home / WARM_RECORD).read_text())["pid"] == os.getpid():
                (self.home / WARM_RECORD).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(5.0)
            request, fds = _receive(conn)
            if request.get("digest") != self.env_key or len(fds) != 3:
                conn.sendall(b'{"refused": "environment"}\n')
                conn.close()
                return
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self._child(request, fds, conn)
        except (OSError, ValueError) as exc:
            print(f"warm: a request failed: {exc}", file=sys.stderr, flush=True)
            conn.close()
            return
        finally:
            for fd in fds:
                os.close(fd)
        self.running[pid] = conn  # reaped, and its code sent, by _reap
        print(f"warm: pid {pid}: dataqual {' '.join(request['argv'])}", flush=True)
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        except OSError:  # its client is already gone
            _signal(pid, signal.SIGTERM)
            return
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def _client_readable(self, conn: socket.socket, pid: int) -> None:
        """The client sends nothing after its request: readable means it went away."""
        with contextlib.suppress(OSError):
            if conn.recv(64, socket.MSG_DONTWAIT):
                return
        self.selector.unregister(conn)
        _signal(pid, signal.SIGTERM)

    def _reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.running.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code  # killed by signal N: 128 + N
            print(f"warm: pid {pid} exited {code}", flush=True)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            with contextlib.suppress(OSError):
                conn.settimeout(2.0)
                conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
            conn.close()

    def _child(self, request: dict[str, Any], fds: list[int], conn: socket.socket) -> NoReturn:
        """In the fork: become the client's command, run it, exit with its code."""
        code = 3
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.selector.close()
            self.listener.close()
            for other in [conn, *self.running.values()]:
                other.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in fds:
                if fd > 2:
                    os.close(fd)
            code = _become(request)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except BaseException:
            traceback.print_exc()
        _exit(code)


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if len(data) < 4:
        raise ValueError("short request")
    (length,) = struct.unpack("!I", data[:4])
    if length > _MAX_REQUEST:
        raise ValueError("request too large")
    body = bytearray(data[4:])
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    request = json.loads(bytes(body))
    if not isinstance(request, dict):
        raise ValueError("request is not an object")
    return request, list(fds)


def _become(request: dict[str, Any]) -> int:
    """Take over the client's folder, environment and arguments and run the command."""
    os.chdir(request["cwd"])
    os.umask(int(request.get("umask", 0o022)))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    time.tzset()  # its TZ, for local times in logs and reports
    if "numpy" in sys.modules:  # each fork would otherwise share the runner's global RNG
        sys.modules["numpy"].random.seed()
    argv = [str(a) for a in request["argv"]]
    sys.argv = ["dataqual", *argv]
    sys.path[:] = [str(p) for p in request.get("path", sys.path)]  # its plugins import
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=os.isatty(1))  # type: ignore[union-attr]
    from pipelines.cli import main

    return main(argv)


def _exit(code: int) -> NoReturn:
    """Leave the fork the way the interpreter would (threads joined, atexit handlers run,
    output flushed) without unwinding into the runner's loop."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        import atexit

        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipelines.warm HOME API_URL SERVER_PID``: import, then serve."""
    home_arg, api_url, server_pid = argv if argv is not None else sys.argv[1:]
    home = Path(home_arg)
    env = effective_env(os.environ, home, api_url)
    os.environ.update(env)
    from pipelines.logs import configure_logging

    configure_logging(0)
    for module in PRELOADED:
        importlib.import_module(module)
    from pipelines.prefect_env import quiet_expected_errors

    quiet_expected_errors()
    if threading.active_count() != 1:  # a fork would copy a process with missing threads
        names = [t.name for t in threading.enumerate()]
        print(f"warm: threads after the imports ({names}); not serving", file=sys.stderr)
        return 1
    runner = WarmRunner(home, api_url, int(server_pid), env_digest(env))
    runner.open()
    print(f"warm: ready, pid {os.getpid()}, socket {runner.socket_path}", flush=True)
    runner.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
