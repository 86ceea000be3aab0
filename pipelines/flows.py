"""Prefect flows: one task per library stage, plus flows for single stages.

Tasks exchange in-memory objects within one flow run, so their caching is keyed on what
identifies the work (file digests, paths), never on hashing arrays or DataFrames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from dataqual import run as stages
from dataqual.config import RunConfig
from dataqual.errors import DataqualError
from dataqual.train.trainer import TrainConfig, train_from_shards

__all__ = ["fetch_flow", "run_flow", "train_flow"]


#: Prefect options per stage: retries where I/O can fail transiently.
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "ingest": {"retries": 2, "retry_delay_seconds": 2},
    "store": {"retries": 1, "retry_delay_seconds": 2},
}
_TASKS: dict[tuple[str, Callable[..., Any]], Any] = {}


def as_task(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """The library stage ``fn`` as a Prefect task named ``name``.

    Stages hand each other in-memory objects, so nothing is cached on hashed inputs.
    """
    key = (name, fn)
    if key not in _TASKS:
        _TASKS[key] = task(
            fn,
            name=name,
            cache_policy=NO_CACHE,
            retry_condition_fn=_transient,
            **TASK_OPTIONS.get(name, {}),
        )
    return _TASKS[key]


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


def _summary_markdown(outcome: stages.RunOutcome) -> str:
    s = outcome.summary
    counts = s["counts"]
    report = (outcome.run_json.parent / s["report"]).as_uri() if s.get("report") else "(none)"
    lines = [
        f"# dataqual run: {s['status']}",
        "",
        f"Source: `{s['source']}` ({s['format']}), dataset `{s['dataset']}`",
        "",
        "| rows | kept | repaired | quarantined |",
        "|---|---|---|---|",
        f"| {counts['rows']} | {counts['kept']} | {counts['repaired']} | {counts['quarantined']} |",
        "",
        f"Training: {s['training']}. Report: [{report}]({report})",
    ]
    return "\n".join(lines)


@flow(name="dataqual-run", log_prints=True)
def run_flow(config: RunConfig) -> stages.RunOutcome:
    """The whole pipeline, one task per stage: ingest, profile, validate, clean, store,
    validate the cleaned data, report, train. Publishes a markdown summary artifact."""
    outcome = stages.run_pipeline(config, stage=as_task)
    create_markdown_artifact(
        markdown=_summary_markdown(outcome),
        key="dataqual-run-summary",
        description="dataqual run summary",
    )
    get_run_logger().info("run %s: %s", outcome.status, outcome.run_json)
    return outcome


@flow(name="dataqual-train")
def train_flow(run_dir: Path, config: TrainConfig) -> dict[str, Any]:
    """Train from a finished run's shards; refuses a run that failed validation unless forced."""
    import json

    run = json.loads((Path(run_dir) / stages.RUN_JSON).read_text())
    shards = Path(run_dir) / Path(run["manifest"]).parent
    result = train_from_shards(
        shards,
        Path(run_dir) / Path(stages.ARTEFACTS["metrics"]).parent,
        config,
        validation_passed=run["status"] == "passed",
    )
    return result.metrics


@flow(name="dataqual-fetch", retries=1)
def fetch_flow(name: str, cache_dir: Path | None = None, mirror: Path | None = None) -> Path:
    """Download (or copy from a mirror) a registered dataset and verify its checksums."""
    from dataqual.ingest.download import fetch_dataset

    return fetch_dataset(name, cache_dir=cache_dir, mirror=mirror)
