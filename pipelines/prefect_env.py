"""Prefect's environment for dataqual: a configurable home, no telemetry, quiet logs.

Must run before ``prefect`` is imported, because Prefect reads its settings at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["configure_prefect", "default_prefect_home"]


def default_prefect_home() -> Path:
    """``$DATAQUAL_PREFECT_HOME``, else ``~/.dataqual/prefect``."""
    env = os.environ.get("DATAQUAL_PREFECT_HOME")
    return Path(env) if env else Path.home() / ".dataqual" / "prefect"


def configure_prefect(home: Path | None = None, *, log_level: str = "WARNING") -> Path:
    """Point Prefect at its own home (its SQLite lives there); switch off network telemetry."""
    home = Path(home) if home else default_prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", log_level)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")
    os.environ.setdefault("PREFECT_API_DATABASE_TIMEOUT", "30")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")
    return home
