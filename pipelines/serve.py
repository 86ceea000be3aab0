"""Scheduled runs: the ``dataqual-scheduled`` flow and serving it on a schedule.

Each scheduled run writes into a new folder ``OUT_ROOT/<UTC start>-<short flow-run id>/``
(never an existing one). It first computes the run key (:mod:`dataqual.runkey`); when that
equals the key recorded by the run ``OUT_ROOT/latest.json`` points at, and ``rerun`` is
off, it writes only ``unchanged.json`` (``{"unchanged": true, "same_as": ..., "key": ...}``)
and ends in well under 5 s. Otherwise it runs :func:`pipelines.flows.run_flow` into its
folder; after a run that passed it records the key (``runkey.json``) and atomically points
``latest.json`` at the folder. A run that fails validation ends Failed and moves nothing.

Late runs: Prefect creates scheduled runs ahead of time; a run not started 15 s after its
time is marked Late (``PREFECT_API_SERVICES_LATE_RUNS_AFTER_SECONDS``) and the served
process still starts it when it can. :func:`serve` runs one at a time (``limit=1``), and a
run that starts more than ``max_late`` seconds after its scheduled time ends Cancelled at
once, writing nothing, so missed runs (a stopped ``dataqual serve``, a long run) do not
pile up: the next on-time run does the work. Stopping ``dataqual serve`` pauses the
schedule (Prefect's ``pause_on_shutdown``); serving again resumes it.
"""

# No ``from __future__ import annotations``: a served flow is validated against its real
# annotations in the process that runs it.
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Cancelled

from dataqual.config import RunConfig
from dataqual.errors import ConfigError, OutputError
from dataqual.files import write_json
from dataqual.locks import point_latest, read_latest
from dataqual.runkey import key_of_run, run_key, source_files, write_key

__all__ = ["SCHEDULED_FLOW", "UNCHANGED", "run_folder", "scheduled_run", "serve"]

#: The scheduled flow's name: a deployment served as NAME is ``dataqual-scheduled/NAME``.
SCHEDULED_FLOW = "dataqual-scheduled"
#: The record a run that found nothing new writes into its folder.
UNCHANGED = "unchanged.json"


def run_folder(out_root: Path, flow_run_id: str, now: datetime | None = None) -> Path:
    """A new run folder ``OUT_ROOT/<UTC time>-<first 8 of the flow-run id>``, created here;
    :class:`OutputError` if it already exists (a run never writes into another's)."""
    now = now or datetime.now(UTC)
    folder = Path(out_root).absolute() / f"{now:%Y%m%dT%H%M%SZ}-{flow_run_id[:8]}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        raise OutputError(f"{folder}: run folder already exists; not writing into it") from None
    return folder


def _late_by(max_late: float | None) -> float | None:
    """Seconds this flow run started after its scheduled time, when over ``max_late``."""
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    if max_late is None or scheduled is None:
        return None
    late = (datetime.now(UTC) - scheduled).total_seconds()
    return late if late > max_late else None


def _unchanged(folder: Path, same_as: Path, key: str, started: float) -> dict[str, Any]:
    from prefect.runtime import flow_run

    record = {
        "unchanged": True,
        "same_as": same_as.name,
        "key": key,
        "flow_run_id": str(flow_run.id),
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json(folder / UNCHANGED, record)
    get_run_logger().info("unchanged: same as %s; wrote %s", same_as.name, folder / UNCHANGED)
    return record


@flow(name=SCHEDULED_FLOW, log_prints=True)
def scheduled_run(
    config: RunConfig, out_root: Path, rerun: bool = False, max_late: float | None = None
) -> Any:
    """One scheduled run into a new folder of ``out_root`` (``config.out`` is replaced by
    it); skipped as ``unchanged`` when its run key equals the latest run's, unless ``rerun``;
    Cancelled without writing when it starts more than ``max_late`` s late."""
    from prefect.runtime import flow_run

    from pipelines.flows import outcome_of, run_flow

    started = time.perf_counter()
    late = _late_by(max_late)
    if late is not None:
        return Cancelled(message=f"started {late:.0f} s late (over {max_late:g} s); skipped")
    out_root = Path(out_root).absolute()
    config = config.absolute()
    key = run_key(config, source_files(config))
    latest = read_latest(out_root)
    folder = run_folder(out_root, str(flow_run.id))
    if not rerun and latest is not None and key_of_run(latest) == key:
        return _unchanged(folder, latest, key, started)
    # run_flow publishes into ``out`` from a staging folder: give it the new, empty folder.
    folder.rmdir()
    run_config = config.model_copy(update={"out": folder, "overwrite": False})
    state = run_flow(run_config, return_state=True)
    outcome = outcome_of(state)  # an error (bad input, a bug) is raised here
    if outcome.exit_code:
        return state  # Failed with the blocking checks; latest stays where it was
    write_key(folder, key, config)
    point_latest(out_root, folder)
    return {"run": folder.name, "status": outcome.status, "key": key}


def serve(
    name: str,
    config: RunConfig,
    out_root: Path,
    *,
    cron: str | None = None,
    interval: float | None = None,
    timezone: str = "UTC",
    rerun: bool = False,
    max_late: float | None = None,
) -> None:
    """Serve ``dataqual-scheduled/NAME`` on a Prefect server (``PREFECT_API_URL``) with a
    cron or interval schedule in ``timezone``; blocks until interrupted."""
    from prefect.schedules import Cron, Interval

    if (cron is None) == (interval is None):
        raise ConfigError("give exactly one of cron or interval")
    try:
        if cron is not None:
            schedule = Cron(cron, timezone=timezone)
        else:
            assert interval is not None
            schedule = Interval(timedelta(seconds=interval), timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"invalid schedule: {exc}") from None
    parameters = {
        "config": config.absolute().model_dump(mode="json"),
        "out_root": str(Path(out_root).absolute()),
        "rerun": rerun,
        "max_late": max_late,
    }
    scheduled_run.serve(
        name=name,
        schedule=schedule,
        parameters=parameters,
        limit=1,
        tags=["dataqual", "scheduled"],
    )
