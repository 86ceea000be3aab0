"""The pipeline's stages as plain functions, and :func:`run_pipeline` that chains them.

Prefect flows (``pipelines/``) call the same stage functions one task each; tests and
benchmarks call :func:`run_pipeline` directly. A run writes into a staging folder beside
``out`` and moves it into place only when every stage has succeeded, so a failed run
leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataqual import __version__
from dataqual.checks.base import Severity
from dataqual.checks.drift import MEAN_THUMBNAILS_ATTR, mean_thumbnails
from dataqual.clean import CleaningPlan, cleaned_profile, plan_cleaning
from dataqual.config import RunConfig
from dataqual.errors import OutputError, SourceError, ValidationFailed
from dataqual.files import make_dir_public, sha256_file, write_json
from dataqual.imageset import DEFAULT_BATCH_ROWS, ImageSource, chunk_rows
from dataqual.ingest import detect_format, open_source
from dataqual.ingest.paths import file_problem
from dataqual.ingest.split import order_splits
from dataqual.outdir import RUN_JSON, check_output
from dataqual.plugins import load_plugins
from dataqual.profile import THUMB_SIDE, Profile, profile_batches
from dataqual.spec import DatasetSpec, infer_spec, load_spec, spec_from_registry
from dataqual.store.manifest import Lineage, SourceFile, SuiteRef
from dataqual.store.shards import StoreResult, write_dataset
from dataqual.streams import MemoizedSource, prefetch
from dataqual.validate import GxValidator, Suite, ValidationReport, load_suites, validate_profile
from dataqual.validate.thresholds import Thresholds

__all__ = [
    "ARTEFACTS",
    "Cleaned",
    "Ingested",
    "Processed",
    "RunOutcome",
    "Workspace",
    "clean",
    "ingest",
    "open_workspace",
    "preflight",
    "process",
    "profile",
    "run_pipeline",
    "store",
    "train",
    "train_or_refuse",
    "validate",
    "write_outputs",
]

log = logging.getLogger(__name__)

#: Wraps a stage function by name (identity, or a Prefect task factory).
StageWrapper = Callable[[str, Callable[..., Any]], Callable[..., Any]]

#: run.json key -> path relative to the run folder (a contract: users' scripts read these).
ARTEFACTS = {
    "manifest": "shards/manifest.json",
    "validation": "validation.json",
    "quarantine": "quarantine.parquet",
    "findings": "findings.parquet",
    "report": "report.html",
    "data_docs": "data_docs/index.html",
    "metrics": "model/metrics.json",
    "profile": "profile.parquet",
    "label_issues": "label_issues.parquet",
}


@dataclass
class Workspace:
    """The staging folder of a run and the GX context shared by its validations."""

    out: Path
    staging: Path
    config: RunConfig
    started: str
    validator: GxValidator | None = None
    artefacts: dict[str, str | None] = field(default_factory=dict)

    def path(self, key: str) -> Path:
        return self.staging / ARTEFACTS[key]

    def gx(self) -> GxValidator:
        if self.validator is None:
            self.validator = GxValidator(self.staging / "data_docs")
        return self.validator


@dataclass
class Ingested:
    """An opened source and what it is expected to look like."""

    source: ImageSource
    spec: DatasetSpec
    format: str
    location: Path
    suites: list[Suite]
    reference: Profile | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS  # rows per chunk, fewer for large images

    @property
    def splits(self) -> list[str]:
        """Every split to judge: those the source has and those the spec declares, so a
        split that is missing or that cleaning empties fails instead of going unjudged."""
        return order_splits({s.name for s in self.source.splits()} | set(self.spec.expected_rows))


@dataclass
class RunOutcome:
    """What a finished run produced; ``run_json`` is inside the final ``out`` folder."""

    status: str
    exit_code: int
    run_json: Path
    summary: dict[str, Any]
    failures: list[str] = field(default_factory=list)  # "check (split)" of each blocking check


def open_workspace(config: RunConfig) -> Workspace:
    """Check that ``out`` may be written and create a staging folder beside it."""
    out = preflight_output(config)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create its folder: {exc.strerror or exc}") from exc
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    make_dir_public(staging)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return Workspace(out=out, staging=staging, config=config, started=started)


def preflight_output(config: RunConfig) -> Path:
    """The absolute ``out`` if a run may write it (see :func:`dataqual.outdir.check_output`):
    absent, empty, or an earlier run with ``overwrite``; never an input or near one."""
    return check_output(config.out, overwrite=config.overwrite, inputs=config.inputs())


def preflight(config: RunConfig) -> None:
    """Fail fast, before any work: the output may be written and a local source opens.

    Opening a source reads and checks only its headers, so this costs milliseconds.
    """
    preflight_output(config)
    load_plugins(config.plugins)
    load_suites(config.suites_dir)
    if config.reference is not None:
        check_reference(config.reference)
    if config.spec_file is not None:
        load_spec(config.spec_file)
    if config.source is not None:
        open_source(config.source, format=config.format, **config.source_options())


def discard(workspace: Workspace) -> None:
    """Remove the staging folder of a failed run."""
    shutil.rmtree(workspace.staging, ignore_errors=True)


def ingest(config: RunConfig) -> Ingested:
    """Resolve the source (path or registered dataset), open it and work out its spec."""
    load_plugins(config.plugins)
    suites = load_suites(config.suites_dir)
    spec_override = load_spec(config.spec_file) if config.spec_file else None
    if config.dataset is not None:
        from dataqual.ingest.download import fetch_dataset
        from dataqual.ingest.registry import get_dataset

        info = get_dataset(config.dataset)
        location = fetch_dataset(config.dataset, cache_dir=config.cache_dir, mirror=config.mirror)
        fmt = "idx"
        source = open_source(location, format=fmt, **config.source_options())
        spec = spec_override or spec_from_registry(info)
    else:
        assert config.source is not None
        location = Path(config.source)
        fmt = config.format or detect_format(location)
        source = open_source(location, format=fmt, **config.source_options())
        spec = spec_override or _identified_spec(source) or infer_spec(source, location)
    reference = None
    if config.reference is not None:  # read once, used by both validation stages
        reference = read_reference(config.reference, shape=source.shape)
    return Ingested(
        source=MemoizedSource(source, config.memo_bytes),
        spec=spec,
        format=fmt,
        location=location,
        suites=suites,
        reference=reference,
        batch_rows=chunk_rows(source.shape, config.batch_rows),
    )


#: Columns a drift reference must have (a ``profile.parquet`` written by a run has them all).
REFERENCE_COLUMNS = ("split", "label", "mean")


def check_reference(path: Path) -> None:
    """Refuse a drift reference that is not a ``profile.parquet`` of an earlier run (not a
    file, not Parquet, no profile columns): a :class:`SourceError` naming the file. Reads
    the schema only."""
    path = Path(path)
    hint = "give the profile.parquet of an earlier run"
    problem = file_problem(path)
    if problem is not None:
        raise SourceError(path, f"reference {problem}", hint=hint)
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SourceError(
            path, f"reference is not a readable Parquet file ({exc})", hint=hint
        ) from exc
    missing = [c for c in REFERENCE_COLUMNS if c not in names]
    if missing:
        problem = f"not a dataqual profile: no column {', '.join(missing)}"
        raise SourceError(path, problem, hint=hint)


def read_reference(path: Path, *, shape: tuple[int, int]) -> Profile:
    """The reference profile of :func:`check_reference`'s file, for drift checks."""
    check_reference(path)
    try:
        table = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SourceError(path, f"reference cannot be read ({exc})") from exc
    return Profile(table=table, thumbs=np.zeros((0, THUMB_SIDE**2), np.uint8), shape=shape)


def _identified_spec(source: ImageSource) -> DatasetSpec | None:
    """The registry's spec when the source files are a known dataset's official files."""
    from dataqual.ingest.registry import identify_files

    info = identify_files(source.files())
    return spec_from_registry(info) if info is not None else None


def profile(ingested: Ingested, config: RunConfig) -> Profile:
    """First streaming pass: the per-image profile of every split."""
    src = ingested.source
    rows = ingested.batch_rows
    batches = chain.from_iterable(src.iter_batches(s.name, rows) for s in src.splits())
    prof = profile_batches(prefetch(batches), src.shape)
    duplicated = prof.table["id"].duplicated()
    if duplicated.any():  # every later stage keys rows by id
        first = prof.table["id"][duplicated].iloc[0]
        raise SourceError(
            src.description,
            f"record id {first!r} occurs more than once ({int(duplicated.sum())} repeated ids)",
            hint="each record needs a unique id within the dataset",
        )
    return prof


def validate(
    workspace: Workspace,
    ingested: Ingested,
    prof: Profile,
    *,
    stage: str,
    raw_rows: dict[str, int] | None = None,
    thresholds: Thresholds | None = None,
) -> tuple[Profile, ValidationReport]:
    """Run analysers and suites for one stage; results join the run's Data Docs.

    The cleaned stage passes the raw stage's ``thresholds`` so both judge by the same bounds.
    """
    return validate_profile(
        prof,
        stage=stage,
        spec=ingested.spec,
        validator=workspace.gx(),
        suites=ingested.suites,
        raw_rows=raw_rows,
        reference=ingested.reference,
        thresholds=thresholds,
        splits=ingested.splits,
    )


@dataclass
class Cleaned:
    """Each row's fate and the profile of the data as it will be stored."""

    plan: CleaningPlan
    profile: Profile


def clean(
    ingested: Ingested, raw_profile: Profile, report: ValidationReport, config: RunConfig
) -> Cleaned:
    """Decide each row's fate from the raw findings and profile the cleaned data (reading
    back only rows whose pixels are repaired)."""
    plan = plan_cleaning(raw_profile.table["id"], report)
    profile = cleaned_profile(raw_profile, plan, ingested.source, batch_rows=ingested.batch_rows)
    return Cleaned(plan=plan, profile=profile)


def store(workspace: Workspace, ingested: Ingested, plan: CleaningPlan) -> StoreResult:
    """Second streaming pass: shards, quarantine and the manifest with lineage."""
    shards_dir = workspace.path("manifest").parent
    result = write_dataset(
        ingested.source,
        plan,
        shards_dir,
        quarantine_path=workspace.path("quarantine"),
        shard_rows=workspace.config.shard_rows,
        batch_rows=ingested.batch_rows,
    )
    result.manifest.lineage = _lineage(ingested)
    result.manifest.write(shards_dir)
    return result


def _lineage(ingested: Ingested) -> Lineage:
    files = [  # readers list only regular files inside the source; this guards the hash
        SourceFile(path=str(p), bytes=p.stat().st_size, sha256=sha256_file(p))
        for p in ingested.source.files()
        if file_problem(p) is None
    ]
    suites = [
        SuiteRef(name=s.name, version=s.version, file=s.path.name, sha256=sha256_file(s.path))
        for s in ingested.suites
    ]
    return Lineage(
        source=ingested.source.description,
        format=ingested.format,
        dataset=ingested.spec.name,
        files=files,
        suites=suites,
        dataqual_version=__version__,
        git_commit=_git_commit(),
    )


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_outputs(
    workspace: Workspace,
    ingested: Ingested,
    raw: tuple[Profile, ValidationReport],
    cleaned: tuple[Profile, ValidationReport],
    plan: CleaningPlan,
    stored: StoreResult,
) -> dict[str, Any]:
    """Write validation.json, findings, profile, Data Docs and the HTML report; return a summary."""
    from dataqual.report import write_report

    raw_profile, raw_report = raw
    _, clean_report = cleaned
    blocking = [
        r
        for r in raw_report.results
        if not r.success
        and r.severity == Severity.ERROR
        and not r.action.removes
        and r.action.value != "repair"
    ]
    success = clean_report.success and not blocking
    summary = {
        "success": success,
        "dataset": ingested.spec.name,
        "source": ingested.source.description,
        "format": ingested.format,
        "counts": plan.counts,
        "splits": {k: v.model_dump() for k, v in stored.manifest.splits.items()},
        "checks": [r.summary() for r in raw_report.results],
        "cleaned": clean_report.summary(),
        "blocking": [r.summary() for r in blocking],
    }
    write_json(workspace.path("validation"), summary)
    findings = pd.concat([raw_report.findings(), clean_report.findings()], ignore_index=True)
    findings = _with_actions(findings)
    findings.to_parquet(workspace.path("findings"), index=False)
    table = raw_profile.table.copy(deep=False)
    table.attrs[MEAN_THUMBNAILS_ATTR] = mean_thumbnails(raw_profile)  # for mean-image drift later
    table.to_parquet(workspace.path("profile"), index=False)
    workspace.artefacts.update(
        {k: ARTEFACTS[k] for k in ("validation", "findings", "profile", "manifest", "quarantine")}
    )
    for name, table in {**raw_report.artefacts}.items():
        if name in ARTEFACTS:
            table.to_parquet(workspace.path(name), index=False)
            workspace.artefacts[name] = ARTEFACTS[name]
    docs = workspace.gx().build_docs()
    workspace.artefacts["data_docs"] = ARTEFACTS["data_docs"] if docs else None
    write_report(
        workspace.path("report"),
        summary=summary,
        findings=findings,
        raw_profile=raw_profile,
        quarantine=workspace.path("quarantine"),
        shards=workspace.path("manifest").parent,
        artefacts=workspace.artefacts,
        spec=ingested.spec,
    )
    workspace.artefacts["report"] = ARTEFACTS["report"]
    return summary


def _with_actions(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings with the action actually taken: a removed row's other findings (repairs,
    flags) did not happen on their own, so they carry the row's removal action."""
    if findings.empty:
        return findings.assign(action_taken=findings["action"])
    raw = findings["stage"] == "raw"
    removals = findings[raw & findings["action"].isin(["quarantine", "drop"])]
    removal_of = dict(zip(removals["id"], removals["action"], strict=True))
    removed = raw & findings["id"].isin(removal_of)
    taken = findings["action"].astype(object).copy()
    taken[removed] = findings.loc[removed, "id"].map(removal_of)
    return findings.assign(action_taken=taken.astype("string"))


def train(workspace: Workspace, summary: dict[str, Any]) -> dict[str, Any] | None:
    """Train the reference model from the stored shards, unless refused by validation."""
    from dataqual.train.trainer import train_from_shards

    result = train_from_shards(
        workspace.path("manifest").parent,
        workspace.path("metrics").parent,
        workspace.config.training,
        validation_passed=bool(summary["success"]),
    )
    workspace.artefacts["metrics"] = ARTEFACTS["metrics"]
    workspace.artefacts["model"] = str(Path(ARTEFACTS["metrics"]).parent / "model.keras")
    return result.metrics


def train_or_refuse(workspace: Workspace, summary: dict[str, Any]) -> str:
    """Train, and say how it went: ``done``, ``forced`` (validation failed) or ``refused``."""
    try:
        train(workspace, summary)
    except ValidationFailed as exc:
        log.warning("training refused: %s", exc)
        return "refused"
    return "done" if summary["success"] else "forced"


def finish(
    workspace: Workspace, summary: dict[str, Any], *, training: str, seconds: float
) -> RunOutcome:
    """Write run.json and move the staging folder into place as ``out``."""
    status = "passed" if summary["success"] else "failed_validation"
    exit_code = 0 if summary["success"] else 1
    run = {
        "status": status,
        "exit_code": exit_code,
        "training": training,
        **{key: workspace.artefacts.get(key) for key in ARTEFACTS},
        "model": workspace.artefacts.get("model"),
        "counts": summary["counts"],
        "dataset": summary["dataset"],
        "source": summary["source"],
        "format": summary["format"],
        "started": workspace.started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "dataqual_version": __version__,
    }
    write_json(workspace.staging / RUN_JSON, run)
    config = workspace.config
    out = check_output(workspace.out, overwrite=config.overwrite, inputs=config.inputs())
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
        out.rename(old)
    workspace.staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return RunOutcome(
        status=status,
        exit_code=exit_code,
        run_json=out / RUN_JSON,
        summary=run,
        failures=_failures(summary),
    )


def _failures(summary: dict[str, Any]) -> list[str]:
    """Each check that makes the run fail, as ``name (split)``, raw stage first."""
    failed = [*summary["blocking"]] + [
        c for c in summary["cleaned"]["checks"] if not c["success"] and c["severity"] == "error"
    ]
    names = (f"{c['name']} ({c['split'] or 'all'})" for c in failed)
    return list(dict.fromkeys(names))


def _direct(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


def _in_background(wrapped: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Start a (wrapped) stage concurrently; the returned future's ``result()`` waits for it.

    A Prefect task is submitted to its flow's task runner (``Task.submit``), so the UI shows
    both stages running; a plain function runs on a thread.
    """
    submit = getattr(wrapped, "submit", None)
    if submit is not None:
        return submit(*args, **kwargs)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataqual-stage")
    future = pool.submit(wrapped, *args, **kwargs)
    pool.shutdown(wait=False)  # the thread ends with the stage
    return future


def _settle(future: Any) -> None:
    """Wait for a background stage whose result no longer matters (the run is failing)."""
    with contextlib.suppress(BaseException):
        future.result()


@dataclass
class Processed:
    """Everything the data stages produced, before outputs are written."""

    ingested: Ingested
    raw: tuple[Profile, ValidationReport]
    cleaned: tuple[Profile, ValidationReport]
    plan: CleaningPlan
    stored: StoreResult


def process(workspace: Workspace, config: RunConfig, *, stage: StageWrapper = _direct) -> Processed:
    """Ingest, profile, validate the raw data, clean, then store the shards while the
    cleaned data is validated.

    Writing the shards and validating the cleaned data both need only the cleaning plan and
    the cleaned profile, so they run at the same time (Parquet encoding and hashing release
    the GIL; GX holds it).
    """
    ingested = stage("ingest", ingest)(config)
    raw_profile = stage("profile", profile)(ingested, config)
    raw = stage("validate-raw", validate)(workspace, ingested, raw_profile, stage="raw")
    cleaned = stage("clean", clean)(ingested, raw[0], raw[1], config)
    storing = _in_background(stage("store", store), workspace, ingested, cleaned.plan)
    raw_rows = {str(k): int(v) for k, v in raw_profile.table["split"].value_counts().items()}
    try:
        validated = stage("validate-cleaned", validate)(
            workspace,
            ingested,
            cleaned.profile,
            stage="cleaned",
            raw_rows=raw_rows,
            thresholds=raw[1].thresholds,
        )
    except BaseException:
        _settle(storing)  # nothing may still write into the staging folder when it is removed
        raise
    return Processed(
        ingested=ingested, raw=raw, cleaned=validated, plan=cleaned.plan, stored=storing.result()
    )


def run_pipeline(config: RunConfig, *, stage: StageWrapper = _direct) -> RunOutcome:
    """Every stage in order (see :func:`process`), then outputs, training and ``run.json``.
    ``stage(name, fn)`` may wrap each stage function: the Prefect flow passes one that turns
    them into tasks, so both run the same recipe."""
    started = time.perf_counter()
    workspace = open_workspace(config)
    try:
        done = process(workspace, config, stage=stage)
        summary = stage("report", write_outputs)(
            workspace, done.ingested, done.raw, done.cleaned, done.plan, done.stored
        )
        training = (
            stage("train", train_or_refuse)(workspace, summary) if config.train else "skipped"
        )
        return finish(workspace, summary, training=training, seconds=time.perf_counter() - started)
    except BaseException:
        discard(workspace)
        raise
