"""The client side of the warm runner: hands ``dataqual run|train|fetch`` to a process that
has already imported Prefect and dataqual (:mod:`pipelines.warm`), relays signals to it and
exits with its exit code.

Standard library only (plus :mod:`pipelines.prefect_env`): this is all the ``dataqual``
command imports before it knows whether it needs the heavy modules. Whenever the warm runner
cannot take the command exactly as this process would run it (another code version, another
Prefect environment, ``-v``, no runner), :func:`run_warm` returns None and the command runs
here, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pipelines.prefect_env import default_prefect_home, prefect_defaults

__all__ = [
    "NO_WARM_ENV",
    "WARM_COMMANDS",
    "WARM_RECORD",
    "code_fingerprint",
    "effective_env",
    "env_digest",
    "read_record",
    "run_warm",
    "send_request",
    "warm_home",
]

#: The record a ready warm runner keeps in the Prefect home (removed when it stops).
WARM_RECORD = "dataqual-warm.json"
#: Commands the warm runner takes; the others always run in the calling process.
WARM_COMMANDS = frozenset({"run", "train", "fetch"})
#: Set (to anything) to run every command in the calling process.
NO_WARM_ENV = "DATAQUAL_NO_WARM"
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Variables read when the runner's modules are imported (Prefect's settings, GX, telemetry).
#: The rest (``DATAQUAL_PLUGINS``, ``TF_*``, ...) are read per command, in the fork, which
#: has the client's environment.
_PREFIXES = ("PREFECT_", "GX_")
_VALUE_OPTIONS = ("--prefect-home", "--plugin")


def warm_home(argv: Sequence[str]) -> Path | None:
    """The Prefect home a command line would use, when it is one the warm runner may take:
    only ``--prefect-home`` and ``--plugin`` before a command of :data:`WARM_COMMANDS`
    (``-v``, ``--help`` or ``--version`` there run in the calling process)."""
    home: str | None = None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        option, sep, value = argv[i].partition("=")
        if option not in _VALUE_OPTIONS:
            return None
        if not sep:
            if i + 1 >= len(argv):
                return None
            value, i = argv[i + 1], i + 1
        if option == "--prefect-home":
            home = value
        i += 1
    if i >= len(argv) or argv[i] not in WARM_COMMANDS:
        return None
    return Path(home) if home else default_prefect_home()


def effective_env(env: Mapping[str, str], home: Path, api_url: str) -> dict[str, str]:
    """``env`` as Prefect would see it at import in a default-verbosity command: dataqual's
    Prefect defaults and the running server's API URL, unless ``env`` sets them."""
    out = dict(env)
    for key, value in prefect_defaults(home).items():
        out.setdefault(key, value)
    out.setdefault("PREFECT_API_URL", api_url)
    return out


def env_digest(env: Mapping[str, str]) -> str:
    """A digest of the variables Prefect and GX read when they are imported: two processes
    with equal digests configure them identically (values are not stored)."""
    items = sorted((k, v) for k, v in env.items() if k.startswith(_PREFIXES) or k == "DO_NOT_TRACK")
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def code_fingerprint() -> str:
    """The interpreter, where ``dataqual``, ``pipelines`` and ``prefect`` are, and the size
    and mtime of every dataqual and pipelines source file: an edit or an upgrade changes it."""
    digest = hashlib.sha256(f"{sys.executable}\n{sys.version}".encode())
    for name in ("dataqual", "pipelines", "prefect"):
        spec = importlib.util.find_spec(name)
        roots = list(spec.submodule_search_locations or []) if spec else []
        digest.update(f"\n{name}:{roots}".encode())
        for root in roots:
            if name == "prefect":  # installed: a new version rewrites its __init__
                stat = os.stat(os.path.join(root, "__init__.py"))
                digest.update(f":{stat.st_mtime_ns}:{stat.st_size}".encode())
                continue
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                for file in sorted(f for f in files if f.endswith(".py")):
                    stat = os.stat(os.path.join(folder, file))
                    digest.update(f"\n{folder}/{file}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return digest.hexdigest()


def read_record(home: Path) -> dict[str, Any] | None:
    """The ready warm runner's record in ``home``, or None."""
    with contextlib.suppress(OSError, ValueError):
        record = json.loads((home / WARM_RECORD).read_text())
        if isinstance(record, dict) and {"socket", "api_url", "code", "env"} <= record.keys():
            return record
    return None


def run_warm(argv: Sequence[str]) -> int | None:
    """Run ``dataqual ARGV`` in the warm runner of its Prefect home and return its exit
    code; None when the runner cannot take it (nothing was started then)."""
    if os.environ.get(NO_WARM_ENV) or (home := warm_home(argv)) is None:
        return None
    record = read_record(home)
    if record is None:
        return None
    env = effective_env(os.environ, home, str(record["api_url"]))
    if env_digest(env) != record["env"] or code_fingerprint() != record["code"]:
        return None
    request = {
        "argv": list(argv),
        "cwd": os.getcwd(),
        "env": env,
        "path": sys.path,
        "umask": _umask(),
        "digest": record["env"],
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        try:
            sock.connect(str(record["socket"]))
            send_request(sock, request)
            reader = sock.makefile("rb")
            reply = json.loads(reader.readline() or b"{}")
        except (OSError, ValueError):
            return None
        if not isinstance(reply.get("pid"), int):
            return None  # refused: it checks the environment again
        return _relay(sock, reader, reply["pid"])


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def send_request(sock: socket.socket, request: Mapping[str, Any]) -> None:
    """Send ``request`` with this process's stdin, stdout and stderr (``SCM_RIGHTS``)."""
    payload = json.dumps(request).encode()
    data = struct.pack("!I", len(payload)) + payload
    sent = socket.send_fds(sock, [data[:4096]], [0, 1, 2])
    sock.sendall(data[sent:])


def _relay(sock: socket.socket, reader: Any, pid: int) -> int:
    """Forward SIGINT, SIGTERM and SIGHUP to the command's process ``pid`` until the runner
    sends its exit code."""

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        sock.settimeout(None)
        line = reader.readline()
    except OSError:
        line = b""
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    try:
        return int(json.loads(line)["exit"])
    except (ValueError, KeyError, TypeError):
        print(
            f"dataqual: internal error: the warm runner lost the command (pid {pid}); "
            f"set {NO_WARM_ENV}=1 to run commands without it",
            file=sys.stderr,
        )
        return 3
