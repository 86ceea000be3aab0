"""Where a flow's tasks run: Prefect's thread runner on this machine, or an existing Dask
cluster (``dataqual run --dask-address tcp://host:8786``)."""

from __future__ import annotations

from typing import Any

__all__ = ["task_runner"]


def task_runner(dask_address: str | None = None) -> Any:
    """Prefect's default thread runner, or a ``DaskTaskRunner`` on the cluster whose
    scheduler listens at ``dask_address``. Stages exchange values only, so a run on the
    cluster writes the same artefacts; the staging folder must be on storage the workers
    share with this machine."""
    if dask_address is None:
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner()
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=dask_address)
