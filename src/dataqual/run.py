"""A whole run in one call: :func:`preflight`, then :func:`run_pipeline`.

The stages live in :mod:`dataqual.recipe` (pure functions exchanging values), the staging
folder in :mod:`dataqual.workspace`, the artefact writers in :mod:`dataqual.outputs` and the
pass/fail decision in :mod:`dataqual.summary`. The Prefect flow (``pipelines/flows.py``)
wires the same stage functions as tasks; tests and benchmarks call :func:`run_pipeline`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from dataqual import recipe
from dataqual.checks.label_actions import with_label_action
from dataqual.compare import compare_with_raw
from dataqual.config import RunConfig
from dataqual.environment import quiet_third_parties
from dataqual.ingest import open_source
from dataqual.notify import check_webhook_url
from dataqual.outdir import RUN_JSON
from dataqual.outputs import train, write_outputs
from dataqual.plugins import load_plugins
from dataqual.recipe import Cleaned, Ingested, Validated
from dataqual.reference import check_reference
from dataqual.spec import load_spec
from dataqual.store.shards import StoreResult
from dataqual.summary import ARTEFACTS, RunSummary
from dataqual.validate import load_suites
from dataqual.workspace import Workspace, discard, finish, open_workspace, preflight_output

T = TypeVar("T")

__all__ = [
    "ARTEFACTS",
    "RUN_JSON",
    "Processed",
    "RunOutcome",
    "complete",
    "preflight",
    "process",
    "run_pipeline",
]


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run produced; ``run_json`` is inside the final ``out`` folder."""

    summary: RunSummary
    run_json: Path
    failures: list[str] = field(default_factory=list)  # "check (split)" of each failing check

    @property
    def status(self) -> str:
        return self.summary.status

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


def preflight(config: RunConfig) -> None:
    """Fail fast, before any work: the output may be written, the plugins import, the
    suites, spec and reference are valid and a local source opens (headers only)."""
    preflight_output(config)
    for url in config.notify:
        check_webhook_url(url)
    load_plugins(config.plugins)
    with_label_action(load_suites(config.suites_dir), config.clean_labels)
    if config.reference is not None:
        check_reference(config.reference)
    if config.spec_file is not None:
        load_spec(config.spec_file)
    if config.dataset is not None:
        from dataqual.ingest.registry import get_dataset

        get_dataset(config.dataset)  # a misspelt name fails here, not in a task
    if config.source is not None:
        open_source(config.source, format=config.format, **config.source_options())


@dataclass(frozen=True)
class Processed:
    """Everything the data stages produced, before outputs are written."""

    ingested: Ingested
    raw: Validated
    checked: Validated  # the validation of the cleaned data
    cleaned: Cleaned
    stored: StoreResult
    timings: dict[str, float]  # seconds per stage


def _timed(timings: dict[str, float], name: str, fn: Callable[..., T], *args: Any) -> T:
    started = time.perf_counter()
    try:
        return fn(*args)
    finally:
        timings[name] = round(time.perf_counter() - started, 3)


def process(workspace: Workspace, config: RunConfig) -> Processed:
    """Ingest, profile, validate the raw data, clean, then store the shards while the
    cleaned data is validated (both need only the plan and the cleaned profile; Parquet
    encoding and hashing release the GIL, GX holds it)."""
    t: dict[str, float] = {}
    ingested = _timed(t, "ingest", recipe.ingest, config, workspace)
    profiled = _timed(t, "profile", recipe.profile, ingested)
    raw = _timed(
        t, "validate-raw", partial(recipe.validate, stage="raw"), workspace, ingested, profiled
    )
    cleaned = _timed(t, "clean", recipe.clean, ingested, raw)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataqual-store")
    storing = pool.submit(_timed, t, "store", recipe.store, workspace, ingested, cleaned)
    pool.shutdown(wait=False)
    try:
        checked = _timed(
            t, "validate-cleaned", recipe.validate_cleaned, workspace, ingested, raw, cleaned
        )
    except BaseException:
        with contextlib.suppress(BaseException):  # nothing may write into a removed folder
            storing.result()
        raise
    return Processed(ingested, raw, checked, cleaned, storing.result(), t)


def complete(workspace: Workspace, summary: RunSummary, *, seconds: float) -> RunOutcome:
    """Stamp the summary with its end, write ``run.json`` and move the run into place."""
    summary = summary.model_copy(
        update={
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
        }
    )
    run_json = finish(workspace, summary.run_json())
    recipe.release_run_source(str(workspace.staging))
    return RunOutcome(summary=summary, run_json=run_json, failures=summary.failures)


def run_pipeline(config: RunConfig) -> RunOutcome:
    """Every stage in order (see :func:`process`), then outputs, training and ``run.json``."""
    started = time.perf_counter()
    quiet_third_parties()
    workspace = open_workspace(config, wait_lock=config.wait_lock)
    try:
        done = process(workspace, config)
        t = dict(done.timings)
        summary = _timed(
            t, "report", write_outputs, workspace, done.ingested, done.raw, done.checked,
            done.cleaned, done.stored,
        )  # fmt: skip
        if config.train:
            summary = _timed(t, "train", train, workspace, config.training, summary)
        if config.train and config.compare_raw:
            summary = _timed(
                t, "compare-raw", compare_with_raw, workspace, done.ingested, done.raw,
                config.training, summary,
            )  # fmt: skip
        summary = summary.model_copy(update={"timings": t})
        return complete(workspace, summary, seconds=time.perf_counter() - started)
    except BaseException:
        recipe.release_run_source(str(workspace.staging))
        discard(workspace)
        raise
