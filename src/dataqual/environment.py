"""Environment settings of third-party libraries, applied by entry points only.

Importing a dataqual module never changes the environment; the CLI, the Prefect flows and
:func:`dataqual.run.run_pipeline` call :func:`quiet_third_parties` when a run starts.

TensorFlow's native (C++/absl) log lines ("All log messages before absl::InitializeLog()",
the oneDNN and CPU-feature notices) are written to file descriptor 2 while TensorFlow loads,
and recent releases ignore ``TF_CPP_MIN_LOG_LEVEL`` for them. :func:`native_logs_filtered`
makes that variable hold around the import: lines below its level are dropped, everything
else is passed on as it comes.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

__all__ = [
    "THIRD_PARTY_DEFAULTS",
    "is_native_noise",
    "native_logs_filtered",
    "quiet_native_import",
    "quiet_third_parties",
]

#: Variables set unless the user has set them: no usage analytics sent over the network,
#: and TensorFlow's native INFO and WARNING lines off (a log level: numerics are unchanged).
THIRD_PARTY_DEFAULTS = {
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}

_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
# absl: "I0000 00:00:1796176654.903793    9235 port.cc:153] ..."; older TF:
# "2025-09-17 14:44:05.157831: I external/.../cudart_stub.cc:32] ..."
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_TF_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) \S+:\d+\] ")
_CONTINUATION = "To enable the following instructions:"  # second line of cpu_feature_guard
_LEVELS = "IWEF"


def quiet_third_parties() -> None:
    """Switch off Great Expectations' analytics (it would try the network at every
    context creation) and TensorFlow's native INFO/WARNING lines, leaving any value the
    user has set."""
    for key, value in THIRD_PARTY_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def is_native_noise(line: str, min_level: int | None = None) -> bool:
    """Whether ``line`` is a native TensorFlow/absl log line below ``min_level``
    (default: ``$TF_CPP_MIN_LOG_LEVEL``; 0 keeps every line)."""
    level = _min_level() if min_level is None else min_level
    if level <= 0:
        return False
    if line.startswith((_ABSL_PREAMBLE, _CONTINUATION)):
        return True
    match = _ABSL_LINE.match(line) or _TF_LINE.match(line)
    return bool(match) and _LEVELS.index(match.group(1)) < level


@contextmanager
def native_logs_filtered() -> Iterator[None]:
    """While the block runs, file descriptor 2 is a pipe whose lines a thread passes on to
    the real stderr as they come, less :func:`is_native_noise`. Wrap the import of
    TensorFlow (:func:`quiet_native_import`). Does nothing when ``$TF_CPP_MIN_LOG_LEVEL`` is
    0 or unset."""
    if _min_level() <= 0:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(
        target=_forward, args=(read_end, saved), name="native-stderr", daemon=True
    )
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the forwarder sees EOF
        forwarder.join(timeout=5)
        if not forwarder.is_alive():
            os.close(saved)


def _forward(read_end: int, target: int) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            _write_kept(target, [line + b"\n" for line in lines])
    _write_kept(target, [pending] if pending else [])


def _write_kept(target: int, lines: list[bytes]) -> None:
    kept = b"".join(line for line in lines if not is_native_noise(line.decode(errors="replace")))
    if kept:
        os.write(target, kept)


def quiet_native_import(name: str) -> ModuleType:
    """Import module ``name`` (``"tensorflow"``, or ``"keras"`` on its TensorFlow backend)
    with its native start-up lines filtered (:func:`native_logs_filtered`)."""
    if name in sys.modules:
        return sys.modules[name]
    with native_logs_filtered():
        return importlib.import_module(name)
