"""Plugins: modules outside the package that register checks, readers or repairs.

A plugin is any importable module whose import registers its extensions (with
``register_analyser``, ``register_reader`` or ``register_repair``). Runs name them in
``RunConfig.plugins`` (CLI ``--plugin``, or ``$DATAQUAL_PLUGINS``, comma-separated), and
every process that runs a stage imports them first, so a Dask worker knows them too.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from dataqual.errors import ConfigError

__all__ = ["PLUGINS_ENV", "load_plugins", "plugins_from_env"]

#: Environment variable listing plugin modules, comma-separated.
PLUGINS_ENV = "DATAQUAL_PLUGINS"


def plugins_from_env() -> list[str]:
    """The module names in ``$DATAQUAL_PLUGINS``."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


def load_plugins(modules: Iterable[str]) -> None:
    """Import each plugin module (once; later calls are free)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(
                f"plugin {name!r} cannot be imported: {exc} (is it on PYTHONPATH?)"
            ) from exc
