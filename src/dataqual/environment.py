"""Environment settings of third-party libraries, applied by entry points only.

Importing a dataqual module never changes the environment; the CLI, the Prefect flows and
:func:`dataqual.run.run_pipeline` call :func:`quiet_third_parties` when a run starts.
"""

from __future__ import annotations

import os

__all__ = ["THIRD_PARTY_DEFAULTS", "quiet_third_parties"]

#: Variables set unless the user has set them: no usage analytics sent over the network.
THIRD_PARTY_DEFAULTS = {"GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def quiet_third_parties() -> None:
    """Switch off Great Expectations' analytics (it would try the network at every
    context creation), leaving any value the user has set."""
    for key, value in THIRD_PARTY_DEFAULTS.items():
        os.environ.setdefault(key, value)
