"""Prefect events of a run, so that Prefect automations can act on them.

Every run emits ``dataqual.run.passed`` or ``dataqual.run.failed``, and also
``dataqual.drift.detected`` when a drift check against ``--reference`` fired. The
resource is the dataset (``dataqual.dataset.<name>``); the payload is the webhook payload
of :mod:`dataqual.notify` (``docs/alerts.md``). Emitted inside a flow run, Prefect relates
each event to the flow run, its flow and deployment. Emitting never raises: an event that
cannot be sent is logged and the run keeps its own state and exit code.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dataqual.notify import failure_notification, fired_drift, notification
from dataqual.summary import RunSummary

__all__ = [
    "DRIFT_DETECTED",
    "RUN_FAILED",
    "RUN_PASSED",
    "dataset_resource",
    "emit_failure_event",
    "emit_run_events",
]

RUN_PASSED = "dataqual.run.passed"
RUN_FAILED = "dataqual.run.failed"
DRIFT_DETECTED = "dataqual.drift.detected"

_log = logging.getLogger("dataqual.events")


def dataset_resource(dataset: str | None) -> dict[str, str]:
    """The Prefect resource of a dataset (``unknown`` when the run never learnt its name)."""
    name = dataset or "unknown"
    return {"prefect.resource.id": f"dataqual.dataset.{name}", "prefect.resource.name": name}


def _emit(event: str, dataset: str | None, payload: dict[str, Any], follows: Any = None) -> Any:
    """Emit one event; None (logged) when it could not be sent."""
    try:
        from prefect.events import emit_event

        return emit_event(
            event, resource=dataset_resource(dataset), payload=payload, follows=follows
        )
    except Exception as exc:  # an alert must never fail the run
        _log.warning("event %s not emitted: %s", event, exc)
        return None


def emit_run_events(summary: RunSummary, run_json: Path) -> list[Any]:
    """Emit the events of a finished run: passed or failed, then drift detected when a
    drift check fired. Returns the events sent (Prefect ``Event`` objects)."""
    payload = notification(summary, run_json)
    sent = [_emit(RUN_PASSED if summary.success else RUN_FAILED, summary.dataset, payload)]
    if fired_drift(summary):
        keys = ("dataset", "source", "drift", "counts", "report", "run_dir", "run_json")
        drift = {"schema": payload["schema"], "event": DRIFT_DETECTED}
        drift |= {key: payload[key] for key in keys}
        sent.append(_emit(DRIFT_DETECTED, summary.dataset, drift, follows=sent[0]))
    return [event for event in sent if event is not None]


def emit_failure_event(
    error: str,
    out: Path,
    *,
    dataset: str | None = None,
    source: str | Path | None = None,
    exit_code: int = 2,
) -> Any:
    """Emit ``dataqual.run.failed`` for a run that wrote no result (bad input, settings or
    an interrupt); the payload is :func:`dataqual.notify.failure_notification`'s."""
    payload = failure_notification(error, out, dataset=dataset, source=source, exit_code=exit_code)
    return _emit(RUN_FAILED, dataset, payload)
