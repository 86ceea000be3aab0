"""What a run is doing, as events, and a cooperative way to stop it.

The library emits events (a stage finished, an epoch finished); entry points subscribe to
print them, log them or publish them as Prefect artifacts. Nothing here imports Prefect.

Stopping: an interrupt handler calls :func:`request_cancel`; long loops (chunk iteration,
training batches) call :func:`check_cancelled`, which raises :class:`~dataqual.errors.Cancelled`
so that worker threads stop within one chunk or batch instead of running to the end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from dataqual.errors import Cancelled

__all__ = [
    "EpochDone",
    "Event",
    "StageDone",
    "cancel_requested",
    "check_cancelled",
    "emit",
    "from_payload",
    "request_cancel",
    "reset_cancel",
    "subscribe",
    "to_payload",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageDone:
    """A stage of a run finished after ``seconds``."""

    name: str
    seconds: float


@dataclass(frozen=True)
class EpochDone:
    """A training epoch finished: its loss and accuracy on the train split, and its speed."""

    epoch: int  # 1-based
    epochs: int
    loss: float
    accuracy: float
    seconds: float
    images_per_second: float


Event = StageDone | EpochDone
Listener = Callable[[Event], None]

_listeners: list[Listener] = []
_listeners_lock = threading.Lock()
_cancel = threading.Event()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` with every event from now on; returns a function that unsubscribes."""
    with _listeners_lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def emit(event: Event) -> int:
    """Hand ``event`` to every listener; a failing listener is logged, never raised (progress
    output must not break a run). Returns how many listeners this process has. Safe to call
    from any thread."""
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            log.debug("progress listener %r failed", listener, exc_info=True)
    return len(listeners)


def to_payload(event: Event) -> dict[str, Any]:
    """``event`` as a plain dict (its fields and its type's name) that any serializer can
    carry to another process, e.g. from a Dask worker to the flow (:func:`from_payload`)."""
    return {"type": type(event).__name__, **asdict(event)}


def from_payload(payload: dict[str, Any]) -> Event:
    """The event that :func:`to_payload` made ``payload`` of; keys that are not the event's
    fields (Dask adds ``worker``) are ignored. Raises ``ValueError`` for a payload that is
    not an event."""
    kinds = {cls.__name__: cls for cls in (StageDone, EpochDone)}
    kind = kinds.get(payload.get("type")) if isinstance(payload, dict) else None
    if kind is None:
        raise ValueError(f"not a progress event: {payload!r}")
    try:
        return kind(**{field.name: payload[field.name] for field in fields(kind)})
    except KeyError as exc:
        raise ValueError(f"not a progress event: {payload!r}") from exc


def request_cancel() -> None:
    """Ask every running stage of this process to stop at its next check."""
    _cancel.set()


def reset_cancel() -> None:
    """Forget an earlier cancel request (a new run in the same process)."""
    _cancel.clear()


def cancel_requested() -> bool:
    """Whether :func:`request_cancel` was called."""
    return _cancel.is_set()


def check_cancelled() -> None:
    """Raise :class:`~dataqual.errors.Cancelled` when a cancel was requested."""
    if _cancel.is_set():
        raise Cancelled("the run was interrupted")
