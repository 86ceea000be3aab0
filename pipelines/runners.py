"""Where a flow's tasks run: Prefect's thread runner on this machine, or an existing Dask
cluster (``dataqual run --dask-address tcp://host:8786``).

Progress events (:mod:`dataqual.progress`) are per process, and the CLI listens in the
flow's. A stage on a Dask worker process publishes its events on a Dask topic of its flow
run (:func:`relay_to_flow`); the flow subscribes to that topic while its stages run and
emits what arrives in its own process (:func:`relay_from_workers`), so the CLI prints the
same stage and epoch lines as on the thread runner. Dask delivers a worker's events to the
client before the result of the task that logged them, so they are all in once the flow
has its stages' results.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from dataqual.progress import Event, emit, from_payload, subscribe, to_payload

__all__ = ["relay_from_workers", "relay_to_flow", "task_runner"]

log = logging.getLogger(__name__)

#: Flow runs whose relay (:func:`relay_from_workers`) runs in this process: a stage of one
#: on an in-process Dask worker reaches the CLI directly, and is not published again.
_relayed_here: set[str] = set()
_relayed_lock = threading.Lock()


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


def _topic(flow_run_id: Any) -> str:
    """The Dask event topic of a flow run's progress events."""
    return f"dataqual-progress-{flow_run_id}"


@contextlib.contextmanager
def relay_from_workers() -> Iterator[None]:
    """While the block runs, emit in this process the progress events that the current
    flow run's stages publish on Dask workers (:func:`relay_to_flow`). Events are emitted
    on the Dask client's thread, in the flow run's context (so Prefect's run logger sees
    them too). Does nothing outside a flow run on a ``DaskTaskRunner``."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    prefect_dask = sys.modules.get("prefect_dask")
    runner = None if context is None else context.task_runner
    if prefect_dask is None or not isinstance(runner, prefect_dask.DaskTaskRunner):
        yield
        return
    flow_run_id, topic = str(context.flow_run.id), _topic(context.flow_run.id)
    active = threading.Event()
    active.set()
    run_context = contextvars.copy_context()

    def on_event(event: tuple[float, Any]) -> None:  # Dask's (timestamp, message)
        if active.is_set():
            run_context.run(_emit_payload, event[1])

    client = runner.client
    client.subscribe_topic(topic, on_event)
    with _relayed_lock:
        _relayed_here.add(flow_run_id)
    try:
        yield
    finally:
        active.clear()
        with _relayed_lock:
            _relayed_here.discard(flow_run_id)
        with contextlib.suppress(Exception):  # a closed client has nothing left to send
            client.unsubscribe_topic(topic)


def _emit_payload(payload: Any) -> None:
    try:
        event = from_payload(payload)
    except (TypeError, ValueError):
        log.debug("ignored a progress message that is not an event: %r", payload)
        return
    emit(event)


@contextlib.contextmanager
def relay_to_flow() -> Iterator[None]:
    """While the block runs in a task on a Dask worker, publish the progress events it
    emits (on this thread) to its flow run's topic (:func:`relay_from_workers`). Does
    nothing elsewhere, nor on a worker in the flow's own process (the events are there)."""
    worker, flow_run_id = _dask_worker(), _task_flow_run()
    with _relayed_lock:
        here = flow_run_id in _relayed_here
    if worker is None or flow_run_id is None or here:
        yield
        return
    topic, thread = _topic(flow_run_id), threading.get_ident()

    def publish(event: Event) -> None:
        if threading.get_ident() == thread:  # not another stage's, on another thread
            worker.log_event(topic, to_payload(event))

    unsubscribe = subscribe(publish)
    try:
        yield
    finally:
        unsubscribe()


def _dask_worker() -> Any:
    """The Dask worker this code runs on, or ``None`` (never imports ``distributed``)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker()
    except ValueError:
        return None


def _task_flow_run() -> str | None:
    """The id of the flow run of the task run this code runs in, or ``None``."""
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    if context is None or context.task_run.flow_run_id is None:
        return None
    return str(context.task_run.flow_run_id)
