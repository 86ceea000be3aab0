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
pile up: the next on-time run does the work.

Stopping: SIGINT or SIGTERM stops :func:`serve` and leaves the deployment paused (its runs
are no longer scheduled); serving again resumes it. However early the signal comes, nothing
is left scheduling runs that nobody serves: the deployment is registered paused, resumed
only once the runner has started, and paused again on the way out (a repeated signal does
not break that).
"""

# No ``from __future__ import annotations``: a served flow is validated against its real
# annotations in the process that runs it.
import asyncio
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

from prefect import flow, get_run_logger
from prefect.runner import Runner
from prefect.states import Cancelled

from dataqual.config import RunConfig
from dataqual.errors import ConfigError, OutputError
from dataqual.files import write_json
from dataqual.locks import point_latest, read_latest
from dataqual.runkey import key_of_run, run_key, source_files, write_key
from pipelines.interrupts import Interrupted

__all__ = [
    "PAUSE_SECONDS",
    "SCHEDULED_FLOW",
    "UNCHANGED",
    "Stopped",
    "pause_deployment",
    "run_folder",
    "scheduled_run",
    "serve",
]

#: The scheduled flow's name: a deployment served as NAME is ``dataqual-scheduled/NAME``.
SCHEDULED_FLOW = "dataqual-scheduled"
#: The record a run that found nothing new writes into its folder.
UNCHANGED = "unchanged.json"
#: Seconds :func:`serve` waits for the server to pause the deployment when it stops.
PAUSE_SECONDS = 8.0


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


class Stopped(NamedTuple):
    """How :func:`serve` ended: the signal that stopped it (None when the runner stopped on
    its own) and why the deployment could not be paused (None when it was)."""

    signum: int | None
    pause_error: str | None


class _Signals:
    """SIGINT and SIGTERM while serving: the first raises :class:`Interrupted` in the main
    thread; any signal once stopping has begun is only recorded."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.stopping = False

    def handler(self, signum: int, frame: FrameType | None = None) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        if first and not self.stopping:
            self.stopping = True
            raise Interrupted(signum)


class _PausedUntilPolling(Runner):
    """A runner whose deployment stays paused until the runner has started (it is added
    with ``paused=True``); SIGTERM goes to the same handler as SIGINT."""

    def __init__(self, deployment: str, signals: _Signals, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._dataqual_deployment = deployment
        self._dataqual_signals = signals

    async def __aenter__(self) -> "_PausedUntilPolling":
        runner = await super().__aenter__()
        deployment = await self._client.read_deployment_by_name(self._dataqual_deployment)
        await self._client.resume_deployment(deployment.id)
        return runner

    def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
        self._dataqual_signals.handler(signal.SIGTERM)


def pause_deployment(deployment: str, timeout: float = PAUSE_SECONDS) -> str | None:
    """Pause the deployment ``FLOW/NAME`` on the server (``PREFECT_API_URL``); returns why
    it could not within ``timeout`` seconds, or None (paused, or it does not exist)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    outcome: list[str | None] = []

    def pause() -> None:
        try:
            with get_client(sync_client=True, httpx_settings={"timeout": timeout}) as client:
                client.pause_deployment(client.read_deployment_by_name(deployment).id)
            outcome.append(None)
        except ObjectNotFound:
            outcome.append(None)
        except Exception as exc:  # the server is gone or failing: say so, do not hang
            outcome.append(f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=pause, name="dataqual-pause", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"no answer from the server in {timeout:g} s"


def _schedule(cron: str | None, interval: float | None, timezone: str) -> Any:
    from prefect.schedules import Cron, Interval

    if (cron is None) == (interval is None):
        raise ConfigError("give exactly one of cron or interval")
    try:
        if cron is not None:
            return Cron(cron, timezone=timezone)
        assert interval is not None
        return Interval(timedelta(seconds=interval), timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"invalid schedule: {exc}") from None


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
) -> Stopped:
    """Serve ``dataqual-scheduled/NAME`` on a Prefect server (``PREFECT_API_URL``) with a
    cron or interval schedule in ``timezone``; blocks until SIGINT or SIGTERM, then leaves
    the deployment paused (main thread only: it installs its own signal handlers)."""
    schedule = _schedule(cron, interval, timezone)
    parameters = {
        "config": config.absolute().model_dump(mode="json"),
        "out_root": str(Path(out_root).absolute()),
        "rerun": rerun,
        "max_late": max_late,
    }
    deployment = f"{SCHEDULED_FLOW}/{name}"
    signals = _Signals()
    runner = _PausedUntilPolling(deployment, signals, name=name, limit=1)
    previous = {s: signal.signal(s, signals.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            runner.add_flow(
                scheduled_run,
                name=name,
                schedule=schedule,
                parameters=parameters,
                paused=True,
                tags=["dataqual", "scheduled"],
            )
            asyncio.run(runner.start())
        except Interrupted:
            pass
        finally:
            signals.stopping = True  # a signal from here on only records itself
            error = pause_deployment(deployment)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return Stopped(signals.signum, error)
