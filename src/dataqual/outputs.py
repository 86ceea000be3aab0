"""The artefact writers of a run: validation.json, findings, profile, Data Docs, report."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from dataqual import __version__
from dataqual.checks.drift import MEAN_THUMBNAILS_ATTR, mean_thumbnails
from dataqual.errors import ValidationFailed
from dataqual.files import write_json
from dataqual.outdir import RUN_JSON
from dataqual.recipe import Cleaned, Ingested, Validated
from dataqual.store.shards import StoreResult
from dataqual.summary import ARTEFACTS, Counts, RunSummary, SplitCounts
from dataqual.train.trainer import TrainConfig
from dataqual.validate import GxValidator
from dataqual.workspace import Workspace

__all__ = [
    "findings_with_actions",
    "model_artefacts",
    "refresh_model_report",
    "train",
    "train_finished_run",
    "write_outputs",
]

log = logging.getLogger(__name__)

#: Artefacts every finished run has.
_ALWAYS = ("validation", "findings", "profile", "manifest", "quarantine")


def write_outputs(
    workspace: Workspace,
    ingested: Ingested,
    raw: Validated,
    checked: Validated,
    cleaned: Cleaned,
    stored: StoreResult,
) -> RunSummary:
    """Write validation.json, findings, profile, Data Docs and the HTML report into the
    staging folder; return the run's summary (training still ``skipped``). ``checked`` is
    the validation of the ``cleaned`` data."""
    summary = RunSummary.build(
        raw.report,
        checked.report,
        dataset=ingested.spec.name,
        source=ingested.description,
        format=ingested.format,
        counts=Counts(**cleaned.plan.counts),
        splits={k: SplitCounts(**v.model_dump()) for k, v in stored.manifest.splits.items()},
        started=workspace.started,
        dataqual_version=__version__,
    )
    write_json(workspace.path("validation"), summary.validation_json())
    findings = pd.concat([raw.report.findings(), checked.report.findings()], ignore_index=True)
    findings = findings_with_actions(findings)
    findings.to_parquet(workspace.path("findings"), index=False)
    table = raw.profile.table.copy(deep=False)
    table.attrs[MEAN_THUMBNAILS_ATTR] = mean_thumbnails(raw.profile)  # for mean-image drift
    table.to_parquet(workspace.path("profile"), index=False)
    artefacts: dict[str, str | None] = {k: ARTEFACTS[k] for k in _ALWAYS}
    for name, frame in raw.report.artefacts.items():
        if name in ARTEFACTS:
            frame.to_parquet(workspace.path(name), index=False)
            artefacts[name] = ARTEFACTS[name]
    docs = GxValidator(workspace.data_docs, store_dir=workspace.gx_store).build_docs()
    shutil.rmtree(workspace.gx_store, ignore_errors=True)
    artefacts["data_docs"] = ARTEFACTS["data_docs"] if docs else None
    artefacts["report"] = ARTEFACTS["report"]
    summary = summary.model_copy(update={"artefacts": artefacts})
    _write_report(workspace, ingested, raw, summary, findings)
    return summary


def _write_report(
    workspace: Workspace,
    ingested: Ingested,
    raw: Validated,
    summary: RunSummary,
    findings: pd.DataFrame,
) -> None:
    from dataqual.report import write_report
    from dataqual.report.model import ModelResults

    artefacts = {k: v for k, v in summary.artefacts.items() if k != "report"}
    write_report(
        workspace.path("report"),
        summary=summary.validation_json(),
        findings=findings,
        raw_profile=raw.profile,
        quarantine=workspace.path("quarantine"),
        shards=workspace.shards,
        artefacts=artefacts,
        spec=ingested.spec,
        model=ModelResults(None, training=summary.training),
    )


def findings_with_actions(findings: pd.DataFrame) -> pd.DataFrame:
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


def train(workspace: Workspace, config: TrainConfig, summary: RunSummary) -> RunSummary:
    """Train the reference model from the stored shards and record how it went:
    ``done``, ``forced`` (validation failed, ``force`` given) or ``refused``."""
    from dataqual.train.checkpoint import backup_key, run_backup_dir, run_backups
    from dataqual.train.trainer import train_from_shards

    # Beside --out, not in the staging folder (new for every process): the same command,
    # run again after a crash, finds the backup and resumes training where it stopped.
    backup = run_backup_dir(workspace.out, backup_key(workspace.shards / "manifest.json", config))
    try:
        result = train_from_shards(
            workspace.shards,
            workspace.path("metrics").parent,
            config,
            validation_passed=summary.success,
            backup_dir=backup,
        )
    except ValidationFailed as exc:
        log.warning("training refused: %s", exc)
        refresh_model_report(workspace.staging, None, "refused", f"Training was refused: {exc}.")
        return summary.model_copy(update={"training": "refused"})
    for stale in run_backups(workspace.out):
        shutil.rmtree(stale, ignore_errors=True)  # older settings' backups: moot now
    artefacts = {**summary.artefacts, **model_artefacts(result.metrics)}
    training = "done" if summary.success else "forced"
    refresh_model_report(workspace.staging, result.metrics, training)
    return summary.model_copy(update={"training": training, "artefacts": artefacts})


def refresh_model_report(
    run_dir: Path,
    metrics: dict[str, Any] | None,
    training: str,
    note: str = "",
    *,
    report: str = ARTEFACTS["report"],
    comparison: dict[str, Any] | None = None,
) -> Path | None:
    """Rewrite the Model section of ``run_dir``'s report (atomically; the rest of the page
    is kept) with the training's ``metrics`` (None: no model), what became of it and the
    raw-versus-cleaned ``comparison`` (``--compare-raw``) when there is one; the
    most-wrong images that are in the label-issue queue (``label_issues.parquet`` or
    ``label_issue`` findings) are marked. Returns the report, or None when the run has none."""
    from dataqual.report.model import ModelResults, label_queue_ids, refresh_model_section

    path = Path(run_dir) / report
    if not path.is_file():
        log.warning("%s: no report to refresh", path)
        return None
    findings = _read_columns(Path(run_dir) / ARTEFACTS["findings"], ["id", "check"])
    queue = _read_columns(Path(run_dir) / ARTEFACTS["label_issues"], ["id"])
    results = ModelResults(
        metrics, training, note, label_queue_ids(findings, queue), comparison=comparison
    )
    return refresh_model_section(path, Path(run_dir) / Path(ARTEFACTS["manifest"]).parent, results)


def _read_columns(path: Path, columns: list[str]) -> pd.DataFrame | None:
    """Those of ``columns`` a Parquet file has, or None when it is missing."""
    if not path.is_file():
        return None
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in columns if c in names])


def train_finished_run(run_dir: Path, config: TrainConfig) -> dict[str, Any]:
    """Train on the shards of a finished run (``dataqual train --run``); refuses a run that
    failed validation unless ``config.force``. ``run.json`` then records the training
    (``done`` or ``forced``) and where its metrics and model are."""
    from dataqual.train.trainer import train_from_shards

    run_json = run_dir / RUN_JSON
    run = json.loads(run_json.read_text())
    passed = run["status"] == "passed"
    metrics = Path(ARTEFACTS["metrics"])
    result = train_from_shards(
        run_dir / Path(run["manifest"]).parent,
        run_dir / metrics.parent,
        config,
        validation_passed=passed,
    )
    training = "done" if passed else "forced"
    refresh_model_report(run_dir, result.metrics, training, report=run.get("report") or "")
    if run.get("compare_raw"):  # compared with the model this training replaces
        (run_dir / run["compare_raw"]).unlink(missing_ok=True)
    update = {"training": training, **model_artefacts(result.metrics), "compare_raw": None}
    write_json(run_json, run | update)
    return result.metrics


def model_artefacts(metrics: dict[str, Any]) -> dict[str, str]:
    """run.json's entries for a trained model, relative to the run folder: ``metrics``,
    ``model`` (``.keras``), ``card`` (``card.md``; ``card.json`` beside it) and, when it was
    exported, ``inference`` (a SavedModel for serving)."""
    folder = Path(ARTEFACTS["metrics"]).parent
    exports = metrics.get("exports", {})
    found = {
        "metrics": ARTEFACTS["metrics"],
        "model": str(folder / exports.get("keras", "model.keras")),
        "card": str(folder / "card.md"),
    }
    if "inference" in exports:
        found["inference"] = str(folder / exports["inference"])
    return found
