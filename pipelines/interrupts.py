"""Ctrl-C and SIGTERM during a run: stop within seconds, leave nothing half-written, tell
Prefect and the user.

The first SIGINT or SIGTERM asks every stage to stop (:func:`dataqual.progress.request_cancel`;
stages check between chunks and training batches) and raises :class:`Interrupted` in the main
thread, where the flow removes its staging folder and ends its run Cancelled. Worker threads
cannot be killed, so a watchdog bounds the wait: if the process is still alive
:data:`GRACE_SECONDS` after the signal, it runs the registered emergency cleanups (remove the
staging folder, mark the flow run Cancelled), prints the message and exits at once.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

from dataqual.progress import request_cancel

__all__ = [
    "GRACE_SECONDS",
    "INTERRUPTED_MESSAGE",
    "STOP_SECONDS",
    "Interrupted",
    "exit_code",
    "exit_now",
    "handle_signals",
    "kept",
    "message",
    "on_emergency",
    "received",
    "shielded",
    "signal_of",
    "start_stopping",
]

#: Seconds between the signal and the forced exit, when threads have not stopped by then.
GRACE_SECONDS = 3.0
#: Seconds the flow waits for its stages to stop before it ends the run Cancelled itself.
STOP_SECONDS = 2.0
INTERRUPTED_MESSAGE = "dataqual: interrupted; nothing written"

_lock = threading.Lock()
_received: list[int] = []
_cleanups: list[Callable[[], None]] = []
_shield = threading.Condition(_lock)
_shielded = [0]  # depth of shielded() blocks
_message = [INTERRUPTED_MESSAGE]


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached the main thread; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int | None:
    """The signal behind ``exc`` when it is an interrupt (ours, Python's KeyboardInterrupt,
    or Prefect's ``TerminationSignal``), else None."""
    if isinstance(exc, Interrupted):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if type(exc).__name__ == "TerminationSignal" and isinstance(getattr(exc, "signal", None), int):
        return int(exc.signal)  # type: ignore[attr-defined]
    return None


def received() -> int | None:
    """The first interrupting signal this process received, if any."""
    with _lock:
        return _received[0] if _received else None


def exit_code(signum: int | None = None) -> int:
    """The shell's exit code for a process stopped by ``signum``: 130 for SIGINT, 143 for
    SIGTERM (default: the signal received, else SIGINT)."""
    return 128 + int(signum or received() or signal.SIGINT)


def on_emergency(cleanup: Callable[[], None]) -> Callable[[], None]:
    """Run ``cleanup`` if the watchdog has to force the exit; returns a function that
    unregisters it (call it once the run no longer needs it)."""
    with _lock:
        _cleanups.append(cleanup)

    def unregister() -> None:
        with _lock, contextlib.suppress(ValueError):
            _cleanups.remove(cleanup)

    return unregister


def start_stopping(signum: int) -> bool:
    """Record ``signum``, ask the stages to stop and arm the watchdog; False when a stop was
    already under way (the watchdog is armed once)."""
    with _lock:
        first = not _received
        _received.append(signum)
    if first:
        request_cancel()
        watchdog = threading.Thread(target=_watchdog, name="dataqual-watchdog", daemon=True)
        watchdog.start()
    return first


def kept(what: str) -> None:
    """Say what an interrupted process keeps (a run that had already finished)."""
    with _lock:
        _message[0] = f"dataqual: interrupted; kept {what}"


def message() -> str:
    """The line to print for an interrupted run: nothing written, or what was kept."""
    with _lock:
        return _message[0]


def _run_cleanups() -> None:
    with _lock:
        cleanups = list(reversed(_cleanups))
    for cleanup in cleanups:
        with contextlib.suppress(BaseException):
            cleanup()


def _watchdog() -> None:
    time.sleep(GRACE_SECONDS)
    with _shield:
        _shield.wait_for(lambda: _shielded[0] == 0, timeout=10.0)
    # A cleanup may block on an unreachable server: give them a second, then go.
    worker = threading.Thread(target=_run_cleanups, name="dataqual-cleanup", daemon=True)
    worker.start()
    worker.join(timeout=1.0)
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        print(message(), file=sys.stderr, flush=True)
    os._exit(exit_code())


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A block that an interrupt does not break (moving a finished run into place): a signal
    inside it is recorded, and the watchdog waits for the block to end."""
    with _lock:
        _shielded[0] += 1
    try:
        yield
    finally:
        with _shield:
            _shielded[0] -= 1
            _shield.notify_all()


def _handler(signum: int, frame: FrameType | None) -> None:
    first = start_stopping(signum)
    with _lock:
        shielded_now = _shielded[0] > 0
    if first and not shielded_now:
        raise Interrupted(signum)
    # A repeated signal while stopping changes nothing: the watchdog bounds the wait.


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM stop the run as described in this module (main
    thread only; elsewhere the block runs with the handlers unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exit_now(code: int, *, drain_seconds: float = 0.5) -> NoReturn:
    """End an interrupted command at once: hand Prefect's queued logs and events to the API
    (bounded by ``drain_seconds`` each), flush the output, and skip the interpreter's
    shutdown, which would wait for stopping worker threads and TensorFlow's teardown."""
    if "prefect" in sys.modules:
        workers = [("prefect.events.worker", "EventsWorker")]
        workers.append(("prefect.logging.handlers", "APILogWorker"))
        for module, name in workers:
            with contextlib.suppress(BaseException):
                getattr(importlib.import_module(module), name).drain_all(timeout=drain_seconds)
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
