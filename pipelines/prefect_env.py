"""Prefect's environment for dataqual: a configurable home, no telemetry, quiet logs.

Must run before ``prefect`` is imported, because Prefect reads its settings at import time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = [
    "ExpectedErrorFilter",
    "configure_prefect",
    "default_prefect_home",
    "prefect_defaults",
    "quiet_expected_errors",
]


def default_prefect_home() -> Path:
    """``$DATAQUAL_PREFECT_HOME``, else ``~/.dataqual/prefect``."""
    env = os.environ.get("DATAQUAL_PREFECT_HOME")
    return Path(env) if env else Path.home() / ".dataqual" / "prefect"


def prefect_defaults(home: Path, log_level: str = "WARNING") -> dict[str, str]:
    """The environment dataqual gives Prefect unless the user set it: its home, no
    telemetry, quiet logs, patient database and start-up timeouts, no UI of its own."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": log_level,
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
        "PREFECT_API_DATABASE_TIMEOUT": "30",
        "PREFECT_UI_ENABLED": "false",
    }


def configure_prefect(home: Path | None = None, *, log_level: str = "WARNING") -> Path:
    """Point Prefect at its own home (its SQLite lives there); switch off network telemetry."""
    home = Path(home) if home else default_prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    for key, value in prefect_defaults(home, log_level).items():
        os.environ.setdefault(key, value)
    return home


class ExpectedErrorFilter(logging.Filter):
    """Drops Prefect's failure logs of a task or flow run that failed with a
    :class:`~dataqual.errors.DataqualError` (the traceback and the "Finished in state
    Failed" lines that follow it) and the "NotReady" lines of the tasks downstream of a
    failed one. The CLI prints the error as one line instead."""

    def __init__(self) -> None:
        super().__init__()
        self._failed_runs: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        from dataqual.errors import DataqualError

        exc = record.exc_info[1] if record.exc_info else None
        run = getattr(record, "task_run_id", None) or getattr(record, "flow_run_id", None)
        if isinstance(exc, DataqualError):
            if run is not None:
                self._failed_runs.add(str(run))
            return False
        if record.levelno < logging.ERROR:
            return True
        # Tasks downstream of the failed one end NotReady: a consequence, not news. A run
        # that fails validation ends Failed; the CLI names its failed checks itself.
        message = record.getMessage()
        upstream = "NotReady(" in message and "Upstream task run" in message
        validation = "Failed('failed validation:" in message
        return not (upstream or validation or str(run) in self._failed_runs)


def quiet_expected_errors() -> None:
    """Install :class:`ExpectedErrorFilter` on the console handlers of Prefect's loggers and
    the root logger (the API still receives every log, so the UI shows the failure in full; call
    after ``prefect`` is imported: importing it configures its logging)."""
    names = ["prefect", *(n for n in logging.root.manager.loggerDict if n.startswith("prefect."))]
    loggers = [logging.getLogger(), *map(logging.getLogger, names)]  # Prefect's propagate
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not any(
                isinstance(f, ExpectedErrorFilter) for f in handler.filters
            ):
                handler.addFilter(ExpectedErrorFilter())
