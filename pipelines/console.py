"""Progress a person can follow: one line per finished stage and one per training epoch.

:class:`ProgressPrinter` prints :mod:`dataqual.progress` events to stdout (with rich when
stdout is a terminal, plain lines otherwise); :class:`RunLogProgress` sends the same lines to
the Prefect API only (the UI and ``dataqual trigger --wait`` show them; the console does not
get them a second time). Both are safe to call from worker threads.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from dataqual.progress import EpochDone, Event, StageDone, subscribe

__all__ = [
    "ProgressPrinter",
    "RunLogProgress",
    "format_event",
    "log_progress_to_prefect",
    "show_progress",
]

#: The logger that carries progress lines to the Prefect API, and nowhere else.
API_LOGGER = "dataqual.progress.api"


def format_event(event: Event) -> str:
    """The line for an event: ``  ingest            0.42 s`` or
    ``epoch 3/10: loss 0.1234, accuracy 0.9650, 41,234 img/s``."""
    if isinstance(event, StageDone):
        return f"  {event.name:<16s}{event.seconds:6.2f} s"
    if isinstance(event, EpochDone):
        return (
            f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}, "
            f"accuracy {event.accuracy:.4f}, {event.images_per_second:,.0f} img/s"
        )
    return str(event)


class ProgressPrinter:
    """A :func:`dataqual.progress.subscribe` listener that prints each event as one line.

    ``stream`` defaults to ``sys.stdout`` (never stderr: errors own stderr). ``rich`` defaults
    to whether the stream is a terminal. Plain lines are written to the stream directly, not
    through ``print``, which Prefect's ``log_prints`` would turn into log records."""

    def __init__(self, stream: TextIO | None = None, *, rich: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.rich = _isatty(self.stream) if rich is None else rich
        self._lock = threading.Lock()
        self._console: Any = None

    def __call__(self, event: Event) -> None:
        line = format_event(event)
        with self._lock:
            if self.rich:
                self._rich_console().print(_styled(event, line))
            else:
                self.stream.write(line + "\n")
                self.stream.flush()

    def _rich_console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or bare stream
        return False


def _styled(event: Event, line: str) -> Any:
    from rich.text import Text

    text = Text(line)
    if isinstance(event, StageDone):
        text.stylize("bold cyan", 2, 2 + len(event.name))
    elif isinstance(event, EpochDone):
        text.stylize("bold", 0, line.index(":"))
    return text


class RunLogProgress:
    """A listener that sends each event's line to the Prefect run logger of the flow or task
    run it is emitted in, through a logger whose only handler is Prefect's API handler (so
    the console does not show the line twice, and the console log level does not drop it).
    Outside a run context it does nothing."""

    def __call__(self, event: Event) -> None:
        extra = _run_extra()
        if extra is not None:
            _api_logger().info(format_event(event), extra=extra)


def _run_extra() -> dict[str, Any] | None:
    """The run logger's ``extra`` (flow and task run ids and names) of the current context."""
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    from prefect.logging.loggers import get_run_logger

    try:
        adapter = get_run_logger()
    except Exception:  # no usable run context in this thread
        return None
    return dict(getattr(adapter, "extra", None) or {})


_api_lock = threading.Lock()


def _api_logger() -> logging.Logger:
    logger = logging.getLogger(API_LOGGER)
    with _api_lock:
        if not logger.handlers:
            from prefect.logging.handlers import APILogHandler

            logger.addHandler(APILogHandler())
            logger.setLevel(logging.INFO)
            logger.propagate = False
    return logger


@contextmanager
def show_progress(
    stream: TextIO | None = None, *, rich: bool | None = None
) -> Iterator[ProgressPrinter]:
    """Print progress events to ``stream`` (stdout) while the block runs."""
    with _subscribed(ProgressPrinter(stream, rich=rich)) as printer:
        yield printer


@contextmanager
def log_progress_to_prefect() -> Iterator[RunLogProgress]:
    """Send progress lines to the Prefect API while the block runs (use inside a flow)."""
    with _subscribed(RunLogProgress()) as listener:
        yield listener


@contextmanager
def _subscribed(listener: Any) -> Iterator[Any]:
    unsubscribe = subscribe(listener)
    try:
        yield listener
    finally:
        unsubscribe()
