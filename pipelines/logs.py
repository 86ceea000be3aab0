"""Console logging of the ``dataqual`` command: dataqual's own lines, not its libraries'.

Verbosity 0 (default): warnings and errors only; progress comes from
:mod:`pipelines.console` on stdout. ``-v``: dataqual's INFO lines and Prefect's flow-run
lines, still without third-party noise (httpx, Great Expectations, TensorFlow/absl,
Prefect's "Finished in state Completed()" lines). ``-vv``: everything, at DEBUG.

Filters sit on the console handlers, not on the loggers, so the Prefect API (the UI, and
``dataqual trigger --wait``) still receives every run log.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = [
    "NOISY_LOGGERS",
    "ConsoleNoiseFilter",
    "configure_logging",
    "prefect_log_level",
]

#: Third-party loggers kept at WARNING below ``-vv``.
NOISY_LOGGERS = (
    "httpx",
    "httpcore",
    "hpack",
    "urllib3",
    "requests",
    "asyncio",
    "websockets",
    "great_expectations",
    "absl",
    "tensorflow",
    "keras",
    "h5py",
    "matplotlib",
    "PIL",
    "numba",
    "distributed",
    "aiosqlite",
    "sqlalchemy",
    "alembic",
    "docket",
    "uvicorn",
)

_FORMAT = "%(levelname)s %(name)s: %(message)s"


class ConsoleNoiseFilter(logging.Filter):
    """Drops, on a console handler, the records that say nothing to a person below ``-vv``:
    third-party records under WARNING (a logger a library configured itself may bypass its
    level) and Prefect's "Finished in state Completed()" lines of each task and flow run."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if record.levelno < logging.WARNING and name.split(".")[0] in NOISY_LOGGERS:
            return False
        if name.startswith("prefect.") and record.levelno < logging.WARNING:
            return not record.getMessage().startswith("Finished in state Completed(")
        return True


def prefect_log_level(verbosity: int) -> str:
    """``PREFECT_LOGGING_LEVEL`` for a verbosity (pass to ``configure_prefect``)."""
    return "WARNING" if verbosity <= 0 else "INFO" if verbosity == 1 else "DEBUG"


def configure_logging(verbosity: int) -> None:
    """Set up console logging on stderr for ``-v`` count ``verbosity`` (call first thing in
    ``main``, before Prefect or TensorFlow are imported)."""
    root_level = logging.WARNING if verbosity <= 0 else logging.INFO
    if verbosity >= 2:
        root_level = logging.DEBUG
    logging.basicConfig(level=root_level, format=_FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(root_level)
    logging.getLogger("dataqual").setLevel(root_level)
    if verbosity >= 2:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")  # TensorFlow's native lines too
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ConsoleNoiseFilter) for f in handler.filters):
            handler.addFilter(ConsoleNoiseFilter())
