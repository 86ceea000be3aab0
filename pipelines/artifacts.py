"""Prefect artifacts of a run, for a person following it in the UI.

A finished run publishes a markdown summary, a table of its checks (failures first), and
links to its HTML report and to GX Data Docs (:func:`publish_run_artifacts`); training
publishes a progress artifact that moves with each epoch (:func:`training_progress`,
:func:`train_with_progress`). Publishing never fails a run: an artifact that cannot be
written is logged at debug level and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from dataqual import outputs
from dataqual.progress import EpochDone, Event, subscribe
from dataqual.run import RunOutcome
from dataqual.summary import CheckSummary, RunSummary
from dataqual.train.trainer import TrainConfig
from dataqual.workspace import Workspace

__all__ = [
    "CHECKS_KEY",
    "DATA_DOCS_KEY",
    "MAX_TABLE_ROWS",
    "PROGRESS_KEY",
    "REPORT_KEY",
    "SUMMARY_KEY",
    "check_rows",
    "publish_run_artifacts",
    "summary_markdown",
    "train_with_progress",
    "training_progress",
]

#: Artifact keys (Prefect allows lowercase letters, digits and dashes); the UI's Artifacts
#: page groups each key's versions, one per run.
SUMMARY_KEY = "dataqual-run-summary"
CHECKS_KEY = "dataqual-checks"
REPORT_KEY = "dataqual-report"
DATA_DOCS_KEY = "dataqual-data-docs"
PROGRESS_KEY = "dataqual-training-progress"

#: The checks table keeps at most this many rows (failures first; validation.json has all).
MAX_TABLE_ROWS = 300

_log = logging.getLogger("dataqual.artifacts")


def _publish(what: str, create: Callable[..., UUID], **kwargs: Any) -> UUID | None:
    """``create(**kwargs)`` synchronously; ``None`` (logged at debug) when it fails."""
    try:
        return create(**kwargs, _sync=True)
    except Exception:
        _log.debug("could not publish the %s artifact", what, exc_info=True)
        return None


def _uri(outcome: RunOutcome, key: str) -> str | None:
    """The ``file://`` URL of the run's artefact ``key``, if the run wrote it."""
    path = outcome.summary.artefacts.get(key)
    return (outcome.run_json.parent / path).absolute().as_uri() if path else None


def _labels(checks: list[CheckSummary]) -> str:
    return ", ".join(c.label for c in checks)


def summary_markdown(outcome: RunOutcome) -> str:
    """The run's summary as a Prefect markdown artifact."""
    s = outcome.summary
    counts = s.counts.model_dump()  # rows, kept, repaired, quarantined
    report, docs = _uri(outcome, "report"), _uri(outcome, "data_docs")
    where = f"Report: [{report}]({report})" if report else "Report: (none)"
    lines = [
        f"# dataqual run: {s.status}",
        "",
        f"Source: `{s.source}` ({s.format}), dataset `{s.dataset}`",
        "",
        "| " + " | ".join(counts) + " |",
        "|" + "---|" * len(counts),
        "| " + " | ".join(str(n) for n in counts.values()) + " |",
        "",
        f"Training: {s.training}. Wall time: {s.seconds:.1f} s.",
        "",
        where + (f". GX Data Docs: [{docs}]({docs})" if docs else ""),
    ]
    if s.failures:
        lines += ["", f"Failed checks: {', '.join(s.failures)}"]
    if s.warnings:
        lines += ["", f"Warnings that fired: {_labels(s.warnings)}"]
    fired = [d for d in s.drift if not d.success and not d.skipped]
    if fired:
        lines += ["", f"Drift that fired: {_labels(fired)}"]
    return "\n".join(lines)


def _result(check: CheckSummary) -> str:
    return "skipped" if check.skipped else "passed" if check.success else "failed"


def _row(stage: str, check: CheckSummary, blocks: bool) -> dict[str, Any]:
    return {
        "stage": stage,
        "check": check.name,
        "split": check.split or "all",
        "severity": check.severity,
        "action": check.action,
        "result": _result(check),
        "rows": check.unexpected_count,
        "judged": check.element_count,
        "blocks run": blocks,
    }


def _rank(row: dict[str, Any]) -> int:
    """Blocking failures first, then failed errors, failed warnings, skipped, passed."""
    if row["blocks run"]:
        return 0
    if row["result"] == "failed":
        return 1 if row["severity"] == "error" else 2
    return 3 if row["result"] == "skipped" else 4


def check_rows(summary: RunSummary) -> list[dict[str, Any]]:
    """One row per check of both validation stages (``raw``, ``cleaned``), failures first:
    ``rows`` is how many rows failed, ``judged`` how many were judged, ``blocks run``
    whether the check fails the run."""
    blocking = {(c.name, c.split) for c in summary.blocking}
    rows = [_row("raw", c, (c.name, c.split) in blocking) for c in summary.checks]
    for c in summary.cleaned.checks:
        fails = _result(c) == "failed" and c.severity == "error"
        rows.append(_row("cleaned", c, fails))
    return sorted(rows, key=_rank)


def _run_artifacts(outcome: RunOutcome) -> list[tuple[str, Callable[..., UUID], dict[str, Any]]]:
    """What :func:`publish_run_artifacts` publishes: (name, create function, arguments)."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    s = outcome.summary
    rows = check_rows(s)
    failed = sum(r["result"] == "failed" for r in rows)
    shown = f"{MAX_TABLE_ROWS} of {len(rows)}" if len(rows) > MAX_TABLE_ROWS else len(rows)
    counted = f"{shown} checks, {failed} failed"
    markdown = summary_markdown(outcome)
    made: list[tuple[str, Callable[..., UUID], dict[str, Any]]] = [
        (
            "summary",
            create_markdown_artifact,
            {
                "markdown": markdown,
                "key": SUMMARY_KEY,
                "description": f"dataqual run of {s.dataset}: {s.status}",
            },
        ),
        (
            "checks",
            create_table_artifact,
            {
                "table": rows[:MAX_TABLE_ROWS],
                "key": CHECKS_KEY,
                "description": f"checks of {s.dataset} ({s.status}): {counted}",
            },
        ),
    ]
    links = (("report", REPORT_KEY, "HTML report"), ("data_docs", DATA_DOCS_KEY, "GX Data Docs"))
    for key, artifact_key, text in links:
        uri = _uri(outcome, key)
        if uri:
            link = {"link": uri, "link_text": f"{text} of {s.dataset}", "key": artifact_key}
            link["description"] = f"{text} of the {s.dataset} run ({s.status})"
            made.append((key, create_link_artifact, link))
    return made


def publish_run_artifacts(outcome: RunOutcome) -> None:
    """Publish a finished run's artifacts into the current flow run: the markdown summary,
    the checks table, and links to the HTML report and GX Data Docs. Never raises; after
    the first artifact that cannot be published (the API is gone, say) it skips the rest
    rather than wait on each."""
    try:
        artifacts = _run_artifacts(outcome)
    except Exception:
        _log.debug("could not build the run's artifacts", exc_info=True)
        return
    for what, create, arguments in artifacts:
        if _publish(what, create, **arguments) is None:
            return


def _run_name() -> str:
    from prefect.runtime import flow_run

    try:
        return str(flow_run.name or "")
    except Exception:
        return ""


@contextmanager
def training_progress(description: str | None = None) -> Iterator[UUID | None]:
    """A progress artifact of training: 0 on entry, ``100 * epoch / epochs`` after each
    :class:`~dataqual.progress.EpochDone`, its description naming the run and the last
    epoch's loss and accuracy. Yields the artifact's id (``None`` when it could not be
    created). Use inside a task run; progress listeners are per process, so one training
    at a time per process."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    name = description or f"training of {_run_name() or 'dataqual run'}"
    artifact = _publish(
        "progress", create_progress_artifact, progress=0.0, key=PROGRESS_KEY, description=name
    )

    def on_event(event: Event) -> None:
        if artifact is None or not isinstance(event, EpochDone):
            return
        done = f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}"
        _publish(
            "progress",
            update_progress_artifact,
            artifact_id=artifact,
            progress=100.0 * event.epoch / max(event.epochs, 1),
            description=f"{name}; {done}, accuracy {event.accuracy:.4f}",
        )

    unsubscribe = subscribe(on_event)
    try:
        yield artifact
    finally:
        unsubscribe()


def train_with_progress(
    workspace: Workspace, config: TrainConfig, summary: RunSummary
) -> RunSummary:
    """:func:`dataqual.outputs.train` with a training progress artifact (a drop-in
    replacement for it as the flow's ``train`` task); a refused training says so in the
    artifact's description."""
    from prefect.artifacts import update_progress_artifact

    with training_progress() as artifact:
        result = outputs.train(workspace, config, summary)
    if artifact is not None and result.training == "refused":
        _publish(
            "progress",
            update_progress_artifact,
            artifact_id=artifact,
            progress=0.0,
            description=f"training of {_run_name() or 'dataqual run'} refused: validation failed",
        )
    return result
