"""The pipeline's stages as pure functions that exchange values.

Each stage takes and returns plain values: frozen dataclasses holding paths, small
pydantic models, NumPy arrays and DataFrames. No stage hands another a live object (an
open file, a GX context, a thread): a stage that needs the source opens it again from its
path, and a validation stage creates its GX context from the staging folder. So the
stages run the same on a thread, in another process or on a Dask worker.

Within one process an opened source is kept for the run (:func:`open_run_source`), so the
second pass over a small dataset reuses the first pass's decoded chunks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from dataqual.checks.label_actions import with_label_action
from dataqual.clean import CleaningPlan, cleaned_profile, plan_cleaning
from dataqual.config import RunConfig
from dataqual.errors import SourceError
from dataqual.imageset import ImageSource, chunk_rows
from dataqual.ingest import detect_format, open_source
from dataqual.ingest.split import order_splits
from dataqual.lineage import lineage
from dataqual.plugins import load_plugins
from dataqual.profile import Profile, profile_batches
from dataqual.reference import read_reference
from dataqual.spec import DatasetSpec, infer_spec, load_spec, spec_from_registry
from dataqual.store.shards import StoreResult, write_dataset
from dataqual.streams import MemoizedSource, default_workers, prefetch
from dataqual.validate import GxValidator, Suite, ValidationReport, load_suites, validate_profile
from dataqual.validate.thresholds import Thresholds
from dataqual.workspace import Workspace

__all__ = [
    "Cleaned",
    "Ingested",
    "Validated",
    "clean",
    "ingest",
    "open_run_source",
    "profile",
    "raw_rows",
    "release_run_source",
    "store",
    "validate",
    "validate_cleaned",
]


@dataclass(frozen=True)
class Ingested:
    """What a run reads and what it is expected to look like: enough to reopen the source
    anywhere (``location``, ``format``, ``config``) and to judge it (spec, suites)."""

    config: RunConfig
    run_key: str  # the staging folder: keys this run's opened source in each process
    location: Path
    format: str
    description: str
    shape: tuple[int, int]
    source_splits: tuple[str, ...]
    spec: DatasetSpec
    suites: tuple[Suite, ...]
    reference: Profile | None
    batch_rows: int  # rows per chunk, fewer for large images

    @property
    def splits(self) -> list[str]:
        """Every split to judge: those the source has and those the spec declares, so a
        split that is missing or that cleaning empties fails instead of going unjudged."""
        return order_splits(set(self.source_splits) | set(self.spec.expected_rows))

    @property
    def workers(self) -> int:
        return self.config.workers or default_workers()


@dataclass(frozen=True)
class Validated:
    """A profile enriched by the analysers, and the report of one validation stage."""

    profile: Profile
    report: ValidationReport


@dataclass(frozen=True)
class Cleaned:
    """Each row's fate and the profile of the data as it will be stored."""

    plan: CleaningPlan
    profile: Profile


#: Runs whose opened source a process keeps (a worker serving many runs forgets old ones).
_KEEP_RUNS = 2
_SOURCES: dict[str, ImageSource] = {}
_SOURCES_LOCK = threading.Lock()


def _open(config: RunConfig, location: Path, fmt: str) -> ImageSource:
    return open_source(location, format=fmt, **config.source_options())


def open_run_source(ingested: Ingested) -> ImageSource:
    """The run's source, opened once per process and run (a small dataset keeps its
    decoded chunks between the profile and store passes)."""
    with _SOURCES_LOCK:
        source = _SOURCES.get(ingested.run_key)
        if source is None:
            load_plugins(ingested.config.plugins)
            opened = _open(ingested.config, ingested.location, ingested.format)
            source = _keep(ingested.run_key, MemoizedSource(opened, ingested.config.memo_bytes))
        return source


def _keep(run_key: str, source: ImageSource) -> ImageSource:
    """Remember ``source`` for its run, forgetting the oldest run past :data:`_KEEP_RUNS`."""
    _SOURCES[run_key] = source
    while len(_SOURCES) > _KEEP_RUNS:
        del _SOURCES[next(iter(_SOURCES))]
    return source


def release_run_source(run_key: str) -> None:
    """Forget this process's opened source of a run (at its end)."""
    with _SOURCES_LOCK:
        _SOURCES.pop(run_key, None)


def _locate(config: RunConfig) -> tuple[Path, str, DatasetSpec | None]:
    """Where the data is, its format, and the registry's spec when it is a known dataset."""
    if config.dataset is not None:
        from dataqual.ingest.download import fetch_dataset
        from dataqual.ingest.registry import get_dataset

        info = get_dataset(config.dataset)
        location = fetch_dataset(config.dataset, cache_dir=config.cache_dir, mirror=config.mirror)
        return location, "idx", spec_from_registry(info)
    assert config.source is not None
    location = Path(config.source)
    return location, config.format or detect_format(location), None


def ingest(config: RunConfig, workspace: Workspace) -> Ingested:
    """Resolve the source (path or registered dataset), open it and work out its spec."""
    load_plugins(config.plugins)
    suites = with_label_action(load_suites(config.suites_dir), config.clean_labels)
    location, fmt, registry_spec = _locate(config)
    source = _open(config, location, fmt)
    spec = (
        (load_spec(config.spec_file) if config.spec_file else None)
        or registry_spec
        or _identified_spec(source)
        or infer_spec(source, location)
    )
    reference = None
    if config.reference is not None:  # read once, used by both validation stages
        reference = read_reference(config.reference, shape=source.shape)
    ingested = Ingested(
        config=config,
        run_key=str(workspace.staging),
        location=location,
        format=fmt,
        description=source.description,
        shape=source.shape,
        source_splits=tuple(s.name for s in source.splits()),
        spec=spec,
        suites=tuple(suites),
        reference=reference,
        batch_rows=chunk_rows(source.shape, config.batch_rows),
    )
    with _SOURCES_LOCK:
        _keep(ingested.run_key, MemoizedSource(source, config.memo_bytes))
    return ingested


def _identified_spec(source: ImageSource) -> DatasetSpec | None:
    """The registry's spec when the source files are a known dataset's official files."""
    from dataqual.ingest.registry import identify_files

    info = identify_files(source.files())
    return spec_from_registry(info) if info is not None else None


def profile(ingested: Ingested) -> Profile:
    """First streaming pass: the per-image profile of every split."""
    src = open_run_source(ingested)
    rows = ingested.batch_rows
    batches = chain.from_iterable(src.iter_batches(s, rows) for s in ingested.source_splits)
    prof = profile_batches(prefetch(batches), src.shape, workers=ingested.workers)
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
) -> Validated:
    """Run analysers and suites for one stage; results join the run's Data Docs.

    The cleaned stage passes the raw stage's ``thresholds`` so both judge by the same bounds.
    """
    load_plugins(ingested.config.plugins)
    enriched, report = validate_profile(
        prof,
        stage=stage,
        spec=ingested.spec,
        validator=GxValidator(workspace.data_docs, store_dir=workspace.gx_store),
        suites=list(ingested.suites),
        raw_rows=raw_rows,
        reference=ingested.reference,
        thresholds=thresholds,
        splits=ingested.splits,
    )
    return Validated(profile=enriched, report=report)


def clean(ingested: Ingested, raw: Validated) -> Cleaned:
    """Decide each row's fate from the raw findings and profile the cleaned data (reading
    back only rows whose pixels are repaired)."""
    load_plugins(ingested.config.plugins)
    plan = plan_cleaning(raw.profile.table["id"], raw.report)
    source = open_run_source(ingested)
    profile = cleaned_profile(raw.profile, plan, source, batch_rows=ingested.batch_rows)
    return Cleaned(plan=plan, profile=profile)


def raw_rows(prof: Profile) -> dict[str, int]:
    """Rows per split of a profile (the cleaned stage judges row counts against these)."""
    return {str(k): int(v) for k, v in prof.table["split"].value_counts().items()}


def validate_cleaned(
    workspace: Workspace, ingested: Ingested, raw: Validated, cleaned: Cleaned
) -> Validated:
    """The cleaned stage's validation, judged by the raw stage's bounds and row counts."""
    return validate(
        workspace,
        ingested,
        cleaned.profile,
        stage="cleaned",
        raw_rows=raw_rows(raw.profile),
        thresholds=raw.report.thresholds,
    )


def store(workspace: Workspace, ingested: Ingested, cleaned: Cleaned) -> StoreResult:
    """Second streaming pass: shards, quarantine and the manifest with lineage."""
    load_plugins(ingested.config.plugins)
    source = open_run_source(ingested)
    result = write_dataset(
        source,
        cleaned.plan,
        workspace.shards,
        quarantine_path=workspace.path("quarantine"),
        shard_rows=ingested.config.shard_rows,
        batch_rows=ingested.batch_rows,
        workers=ingested.workers,
    )
    result.manifest.lineage = lineage(ingested, source)
    result.manifest.write(workspace.shards)
    return result
