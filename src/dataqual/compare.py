"""Did cleaning help? The same model trained on the raw rows, beside the cleaned run's own.

``dataqual run --compare-raw`` trains a second model, with the same settings and seed, on
the rows as they came: the cleaning plan is rebuilt from the raw findings of only the
checks without which a row cannot be trained on at all (:data:`ESSENTIAL_CHECKS`); every
other removal and repair (blanks, inversions, duplicates, leaks, label actions) is left
undone. Both models are evaluated on the same rows, the cleaned run's eval split, and
``model/compare_raw.json`` holds both accuracies and the per-class differences (the
report's Model section shows them).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from dataqual.clean.plan import plan_cleaning
from dataqual.files import write_json
from dataqual.recipe import Ingested, Validated, open_run_source
from dataqual.store.shards import write_dataset
from dataqual.summary import RunSummary
from dataqual.train.trainer import TrainConfig
from dataqual.validate.report import ValidationReport
from dataqual.workspace import Workspace

__all__ = [
    "COMPARE_RAW",
    "ESSENTIAL_CHECKS",
    "compare_with_raw",
    "comparison",
    "raw_report",
]

log = logging.getLogger(__name__)

#: run.json key and path (relative to the run folder) of the comparison.
COMPARE_RAW = "model/compare_raw.json"

#: Checks whose failing rows cannot be trained on as they are (no usable label or pixels):
#: the raw model leaves them out too.
ESSENTIAL_CHECKS = frozenset(
    {"label_missing", "label_in_classes", "missing_pixels", "unreadable_record"}
)


def raw_report(report: ValidationReport) -> ValidationReport:
    """``report`` with only the results the raw model's rows must honour as well. (The
    reader's own repairs, such as ``clip`` or ``resize``, are made while reading: both
    models get them.)"""
    kept = [r for r in report.results if r.name in ESSENTIAL_CHECKS]
    return replace(report, results=kept)


def comparison(cleaned: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The content of ``compare_raw.json`` from the two models' metrics (same eval rows)."""
    acc_c, acc_r = cleaned.get("test_accuracy"), raw.get("test_accuracy")
    per_c = cleaned.get("per_class_accuracy") or {}
    per_r = raw.get("per_class_accuracy") or {}
    delta = None if acc_c is None or acc_r is None else round(acc_c - acc_r, 6)
    return {
        "helped": None if delta is None else delta > 0,
        "delta": delta,
        "eval_rows": cleaned.get("test_rows"),
        "cleaned": _side(cleaned),
        "raw": _side(raw),
        "per_class": {
            k: {
                "cleaned": per_c[k],
                "raw": per_r.get(k),
                "delta": None if per_r.get(k) is None else round(per_c[k] - per_r[k], 6),
            }
            for k in per_c
        },
    }


def _side(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("test_accuracy", "train_rows", "epochs", "model", "seed", "train_seconds")
    return {k: metrics.get(k) for k in keys if k in metrics}


def compare_with_raw(
    workspace: Workspace,
    ingested: Ingested,
    raw: Validated,
    config: TrainConfig,
    summary: RunSummary,
) -> RunSummary:
    """Train ``config``'s model on the raw rows, evaluate it on the cleaned eval split and
    write ``model/compare_raw.json`` beside the cleaned model's metrics (which it needs:
    nothing is compared when training was refused or skipped)."""
    import json

    from dataqual.outputs import refresh_model_report
    from dataqual.train.data import ShardDataset
    from dataqual.train.trainer import fit_and_evaluate

    metrics_path = workspace.path("metrics")
    if summary.training not in ("done", "forced") or not metrics_path.is_file():
        log.warning("--compare-raw: no cleaned model to compare with (%s)", summary.training)
        return summary
    cleaned = json.loads(metrics_path.read_text())
    work = workspace.staging / ".compare-raw"
    try:
        shards = _raw_shards(ingested, raw, work)
        _, metrics = fit_and_evaluate(
            ShardDataset(shards, config.train_split),
            ShardDataset(workspace.shards, config.eval_split),
            config,
            work / "model",
            work / "backup",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = comparison(cleaned | {"seed": config.seed}, metrics | {"seed": config.seed})
    write_json(workspace.staging / COMPARE_RAW, result)
    refresh_model_report(workspace.staging, cleaned, summary.training, comparison=result)
    log.info("compare-raw: cleaned %s, raw %s", result["cleaned"], result["raw"])
    artefacts = {**summary.artefacts, "compare_raw": COMPARE_RAW}
    return summary.model_copy(update={"artefacts": artefacts})


def _raw_shards(ingested: Ingested, raw: Validated, work: Path) -> Path:
    """The raw rows (see :func:`raw_report`) as shards under ``work``."""
    plan = plan_cleaning(raw.profile.table["id"], raw_report(raw.report))
    result = write_dataset(
        open_run_source(ingested),
        plan,
        work / "shards",
        quarantine_path=work / "quarantine.parquet",
        batch_rows=ingested.batch_rows,
        workers=ingested.workers,
    )
    result.manifest.write(work / "shards")
    return work / "shards"
