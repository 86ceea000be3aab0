"""Prefect flows: the library's stages wired as tasks, plus flows for single stages.

The flow wires tasks Kedro-style: each task is a pure stage function of
:mod:`dataqual.recipe` / :mod:`dataqual.outputs`, and the flow passes one task's future to
the next, so Prefect runs independent stages (storing the shards, validating the cleaned
data) at the same time. Stages exchange values, never live objects, so the flow runs the
same on Prefect's thread runner and on a ``DaskTaskRunner`` (worker processes).
"""

# No ``from __future__ import annotations``: a served deployment ships ``run_flow`` to its
# process by value, and Prefect validates parameters against real annotations there.
import contextlib
import functools
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait
from prefect.states import Cancelled, Failed, State

from dataqual import outputs, recipe
from dataqual.compare import compare_with_raw
from dataqual.config import RunConfig
from dataqual.environment import quiet_third_parties
from dataqual.errors import DataqualError
from dataqual.notify import failure_notification, notification, notify_all
from dataqual.progress import StageDone, check_cancelled, emit
from dataqual.run import RunOutcome, complete
from dataqual.train.checkpoint import run_backups
from dataqual.train.trainer import TrainConfig
from dataqual.workspace import Workspace, discard, open_workspace
from pipelines import interrupts
from pipelines.artifacts import publish_run_artifacts, train_with_progress
from pipelines.console import log_progress_to_prefect
from pipelines.events import emit_failure_event, emit_run_events
from pipelines.runners import relay_from_workers, relay_to_flow

__all__ = [
    "TASK_OPTIONS",
    "as_task",
    "fetch_flow",
    "outcome_of",
    "run_flow",
    "run_name",
    "train_flow",
]


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only errors that may pass: not bad input, settings or an exhausted download
    (the downloader has already retried with backoff)."""
    try:
        state.result()
    except DataqualError:
        return False
    except Exception:
        return True
    return False


#: Prefect options per stage: retries where I/O can fail transiently.
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "ingest": {"retries": 2, "retry_delay_seconds": 2},
    "store": {"retries": 1, "retry_delay_seconds": 2},
}


def as_task(name: str, fn: Callable[..., Any]) -> Any:
    """The library stage ``fn`` as a Prefect task named ``name``, with the stage's retry
    options. Stage results are plain values handed on within the run, so nothing is
    cached on hashed inputs."""
    options = TASK_OPTIONS.get(name, {})
    return task(
        _staged(name, fn),
        name=name,
        cache_policy=NO_CACHE,
        retry_condition_fn=_transient,
        **options,
    )


def _staged(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that does not start once the run is interrupted, and that announces its end
    (:class:`~dataqual.progress.StageDone`) so the CLI can print each stage as it ends. On
    a Dask worker process, the stage's events (its end, its epochs) are relayed to the flow
    (:func:`pipelines.runners.relay_to_flow`), which emits them where the CLI listens."""

    @functools.wraps(fn)
    def stage(*args: Any, **kwargs: Any) -> Any:
        check_cancelled()
        with relay_to_flow():
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            emit(StageDone(name, time.perf_counter() - started))
        return result

    return stage


ingest = as_task("ingest", recipe.ingest)
profile = as_task("profile", recipe.profile)
validate_raw = as_task("validate-raw", recipe.validate)
clean = as_task("clean", recipe.clean)
store = as_task("store", recipe.store)
validate_cleaned = as_task("validate-cleaned", recipe.validate_cleaned)
report = as_task("report", outputs.write_outputs)
train = as_task("train", train_with_progress)
compare_raw = as_task("compare-raw", compare_with_raw)


def _settle(stages: dict[str, PrefectFuture[Any]]) -> None:
    """Raise the error of the earliest stage that failed, once every stage has stopped
    (nothing may still write into a staging folder that is about to be removed). On an
    interrupt, stages are asked to stop and waited for only until the watchdog's deadline."""
    futures = list(stages.values())
    try:
        for future in futures:
            future.result()
    except BaseException as exc:
        timeout = None
        if (signum := interrupts.signal_of(exc)) is not None:
            interrupts.start_stopping(signum)
            timeout = interrupts.STOP_SECONDS
        with contextlib.suppress(BaseException):
            wait(futures, timeout=timeout)
        raise


def _announce(config: RunConfig, outcome: RunOutcome) -> None:
    """Prefect events and webhooks of a finished run (passed or failed validation); a
    failing webhook never fails the run."""
    emit_run_events(outcome.summary, outcome.run_json)
    if config.notify:
        notify_all(config.notify, notification(outcome.summary, outcome.run_json))


def _announce_failure(config: RunConfig, exc: BaseException) -> None:
    """Events and webhooks of a run that stopped on an error or an interrupt."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    exit_code = 130 if interrupted else 2 if isinstance(exc, DataqualError) else 3
    quick: dict[str, Any] = {"timeout": 1.0, "retries": 0} if interrupted else {}
    source = None if config.source is None else str(config.source)
    where = {"dataset": config.dataset, "source": source, "exit_code": exit_code}
    emit_failure_event(str(exc), config.out, **where)
    if config.notify:
        notify_all(config.notify, failure_notification(str(exc), config.out, **where), **quick)


def _timings(futures: dict[str, PrefectFuture[Any]]) -> dict[str, float]:
    """Seconds each stage's task ran, as the Prefect API recorded them."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = {name: client.read_task_run(f.task_run_id) for name, f in futures.items()}
    return {name: round(run.total_run_time.total_seconds(), 3) for name, run in runs.items()}


def _submit_stages(config: RunConfig, workspace: Workspace) -> dict[str, PrefectFuture[Any]]:
    """Submit every stage, each fed its upstream stages' futures; Prefect runs a stage when
    its inputs are ready, so store and validate-cleaned run at the same time."""
    ingested = ingest.submit(config, workspace)
    profiled = profile.submit(ingested)
    raw = validate_raw.submit(workspace, ingested, profiled, stage="raw")
    cleaned = clean.submit(ingested, raw)
    stored = store.submit(workspace, ingested, cleaned)
    checked = validate_cleaned.submit(workspace, ingested, raw, cleaned)
    summary = report.submit(workspace, ingested, raw, checked, cleaned, stored)
    stages = {
        "ingest": ingested,
        "profile": profiled,
        "validate-raw": raw,
        "clean": cleaned,
        "store": stored,
        "validate-cleaned": checked,
        "report": summary,
    }
    if config.train:
        stages["train"] = train.submit(workspace, config.training, summary)
        if config.compare_raw:
            stages["compare-raw"] = compare_raw.submit(
                workspace, ingested, raw, config.training, stages["train"]
            )
    return stages


def run_name() -> str:
    """A flow run's name: what it reads and when, e.g. ``mnist-20261202T0100Z``."""
    from prefect.runtime import flow_run

    config = flow_run.parameters.get("config")
    if isinstance(config, dict):
        config = RunConfig.model_validate(config)
    what = "run"
    if isinstance(config, RunConfig):
        what = config.dataset or Path(config.source or "run").name or "run"
    return f"{what}-{datetime.now(UTC):%Y%m%dT%H%MZ}"


@flow(name="dataqual-run", log_prints=True, flow_run_name=run_name)
def run_flow(config: RunConfig) -> RunOutcome | State[RunOutcome]:
    """The whole pipeline, one task per stage: ingest, profile, validate, clean, store
    beside validate-cleaned, report, train. Publishes a markdown summary artifact.

    A run whose data fails validation still writes every artefact, and ends Failed with
    the failing checks in its message (its data is the :class:`RunOutcome`), so Prefect's
    history does not show it green. Call with ``return_state=True`` to get that outcome."""
    started = time.perf_counter()
    quiet_third_parties()
    with interrupts.handle_signals(), log_progress_to_prefect():
        try:
            workspace = open_workspace(config, wait_lock=config.wait_lock)
        except BaseException as exc:
            if (signum := interrupts.signal_of(exc)) is None:
                raise
            return _cancelled(signum)
        from prefect.runtime import flow_run

        forget = interrupts.on_emergency(functools.partial(_emergency, workspace, flow_run.id))
        try:
            outcome = _process(config, workspace, started)
        except BaseException as exc:
            recipe.release_run_source(str(workspace.staging))
            discard(workspace)
            _announce_failure(config, exc)
            if (signum := interrupts.signal_of(exc)) is None:
                raise
            kept = run_backups(config.out)
            return _cancelled(signum, kept[-1] if kept else None)
        finally:
            forget()
    _announce(config, outcome)
    publish_run_artifacts(outcome)
    get_run_logger().info("run %s: %s", outcome.status, outcome.run_json)
    if outcome.exit_code:
        checks = ", ".join(outcome.failures) or "see validation.json"
        return Failed(message=f"failed validation: {checks}", data=outcome)
    return outcome


def _process(config: RunConfig, workspace: Workspace, started: float) -> RunOutcome:
    """Every stage, then the finished run moved into place; an interrupt cannot break the
    move (a run that finished is kept, and the CLI says so)."""
    with relay_from_workers():
        stages = _submit_stages(config, workspace)
        _settle(stages)
    last = list(stages.values())[-1].result()
    done = last.model_copy(update={"timings": _timings(stages)})
    with interrupts.shielded():
        outcome = complete(workspace, done, seconds=time.perf_counter() - started)
    if interrupts.received():
        interrupts.kept(f"the finished run in {outcome.run_json.parent}")
    return outcome


def _cancelled(signum: int, kept: Path | None = None) -> State[Any]:
    """The state of a run stopped by ``signum``: Cancelled, with what happened (and the
    training backup it kept, from which the same command resumes)."""
    what = "nothing written"
    if kept is not None:
        interrupts.kept(f"the training backup {kept}; the same command resumes from it")
        what = f"kept the training backup {kept}"
    return Cancelled(message=f"interrupted by {signal.Signals(signum).name}; {what}")


def _emergency(workspace: Workspace, flow_run_id: str) -> None:
    """What the interrupt watchdog does before it forces the exit: remove the staging
    folder, and end the flow run Cancelled (threads kept the engine from doing it)."""
    discard(workspace)
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = _cancelled(interrupts.received() or signal.SIGINT)
        client.set_flow_run_state(flow_run_id, state, force=True)


def outcome_of(state: State[Any]) -> RunOutcome:
    """The :class:`RunOutcome` of a finished :func:`run_flow` state; a run that failed on
    an error (bad input, a bug) raises that error."""
    data = state.result(raise_on_failure=False)
    if isinstance(data, RunOutcome):
        return data
    if isinstance(data, BaseException):
        raise data
    return state.result()  # raises Prefect's own error for a crashed or cancelled run


@flow(name="dataqual-train")
def train_flow(run_dir: Path, config: TrainConfig) -> dict[str, Any]:
    """Train from a finished run's shards (see :func:`dataqual.outputs.train_finished_run`)."""
    quiet_third_parties()
    with log_progress_to_prefect():
        return outputs.train_finished_run(Path(run_dir), config)


@flow(name="dataqual-fetch", retries=1)
def fetch_flow(name: str, cache_dir: Path | None = None, mirror: Path | None = None) -> Path:
    """Download (or copy from a mirror) a registered dataset and verify its checksums."""
    from dataqual.ingest.download import fetch_dataset

    return fetch_dataset(name, cache_dir=cache_dir, mirror=mirror)
