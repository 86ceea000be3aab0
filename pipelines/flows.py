"""Prefect flows: one task per library stage, plus flows for single stages.

Tasks exchange in-memory objects within one flow run, so their caching is keyed on what
identifies the work (file digests, paths), never on hashing arrays or DataFrames.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from dataqual import run as stages
from dataqual.config import RunConfig
from dataqual.errors import ValidationFailed
from dataqual.train.trainer import TrainConfig, train_from_shards

__all__ = ["fetch_flow", "run_flow", "train_flow"]


@task(name="ingest", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def ingest_task(config: RunConfig) -> stages.Ingested:
    """Open the source (downloading a named dataset if needed); retried on transient I/O errors."""
    return stages.ingest(config)


@task(name="profile", cache_policy=NO_CACHE)
def profile_task(ingested: stages.Ingested, config: RunConfig) -> Any:
    return stages.profile(ingested, config)


@task(name="validate", cache_policy=NO_CACHE)
def validate_task(
    workspace: stages.Workspace,
    ingested: stages.Ingested,
    prof: Any,
    stage: str,
    raw_rows: dict[str, int] | None = None,
) -> Any:
    return stages.validate(workspace, ingested, prof, stage=stage, raw_rows=raw_rows)


@task(name="clean", cache_policy=NO_CACHE)
def clean_task(raw_profile: Any, report: Any) -> Any:
    return stages.clean(raw_profile, report)


@task(name="store", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def store_task(
    workspace: stages.Workspace, ingested: stages.Ingested, plan: Any, raw_profile: Any
) -> Any:
    return stages.store(workspace, ingested, plan, raw_profile)


@task(name="report", cache_policy=NO_CACHE)
def report_task(
    workspace: stages.Workspace,
    ingested: stages.Ingested,
    raw: Any,
    cleaned: Any,
    plan: Any,
    stored: Any,
) -> dict[str, Any]:
    return stages.write_outputs(workspace, ingested, raw, cleaned, plan, stored)


@task(name="train", cache_policy=NO_CACHE)
def train_task(workspace: stages.Workspace, summary: dict[str, Any]) -> str:
    try:
        stages.train(workspace, summary)
    except ValidationFailed as exc:
        get_run_logger().warning("training refused: %s", exc)
        return "refused"
    return "done" if summary["success"] else "forced"


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
    """The whole pipeline: ingest, validate, clean, store, validate again, report, train."""
    logger = get_run_logger()
    started = time.perf_counter()
    workspace = stages.open_workspace(config)
    try:
        ingested = ingest_task(config)
        raw_profile = profile_task(ingested, config)
        raw = validate_task(workspace, ingested, raw_profile, "raw")
        plan = clean_task(raw[0], raw[1])
        stored = store_task(workspace, ingested, plan, raw_profile)
        raw_rows = {
            str(k): int(v) for k, v in raw_profile.table["split"].value_counts(sort=False).items()
        }
        cleaned = validate_task(workspace, ingested, stored.cleaned, "cleaned", raw_rows)
        summary = report_task(workspace, ingested, raw, cleaned, plan, stored)
        training = train_task(workspace, summary) if config.train else "skipped"
        outcome = stages.finish(
            workspace, summary, training=training, seconds=time.perf_counter() - started
        )
    except BaseException:
        stages.discard(workspace)
        raise
    create_markdown_artifact(
        markdown=_summary_markdown(outcome),
        key="dataqual-run-summary",
        description="dataqual run summary",
    )
    logger.info("run %s: %s", outcome.status, outcome.run_json)
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
