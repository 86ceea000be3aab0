"""The typed run summary, and the one function that decides whether a run passed.

``validation.json`` and ``run.json`` are serialisations of :class:`RunSummary` (every key
they have held since issue 2 is kept: users' scripts read them). Its JSON schema is
published as ``docs/run_summary.schema.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dataqual.checks.base import CheckResult, Severity
from dataqual.validate.report import ValidationReport

__all__ = [
    "ARTEFACTS",
    "CheckSummary",
    "Counts",
    "RunSummary",
    "SplitCounts",
    "StageChecks",
    "Training",
    "Verdict",
    "judge_run",
]

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

#: What became of training: ``done``, ``forced`` (validation failed, trained anyway with
#: ``force``), ``refused`` (validation failed) or ``skipped`` (``--no-train``).
Training = Literal["done", "forced", "refused", "skipped"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckSummary(_Frozen):
    """One check on one split (``split`` null: the whole dataset), as JSON."""

    name: str = Field(description="The check's name, unique across the suites.")
    description: str = Field(description="What the check requires, in words.")
    split: str | None = Field(description="The split judged; null for the whole dataset.")
    suite: str | None = Field(description="The suite the check belongs to.")
    engine: str = Field(description="'gx' (a GX expectation) or 'dataqual' (an analyser).")
    severity: Literal["error", "warning"]
    action: Literal["quarantine", "drop", "repair", "flag", "none"] = Field(
        description="What cleaning does with a failing row."
    )
    success: bool
    skipped: str | None = Field(description="Why the check did not run, when it did not.")
    element_count: int = Field(description="Rows judged.")
    unexpected_count: int = Field(description="Rows (or units) that failed.")
    examples: list[str] = Field(description="A few ids of failing rows.")
    observed: dict[str, Any] = Field(description="Measured values, reported pass or fail.")

    @classmethod
    def of(cls, result: CheckResult) -> CheckSummary:
        return cls.model_validate(result.summary())

    @property
    def label(self) -> str:
        """``name (split)``, as the CLI names a failed check."""
        return f"{self.name} ({self.split or 'all'})"


class StageChecks(_Frozen):
    """Every check of one validation stage."""

    stage: str
    success: bool = Field(description="No error-severity check of this stage fails.")
    thresholds: dict[str, Any] = Field(description="Robust bounds the stage judged by.")
    checks: list[CheckSummary]

    @classmethod
    def of(cls, report: ValidationReport) -> StageChecks:
        return cls.model_validate(report.summary())


class Counts(_Frozen):
    """Rows read, and what cleaning did with them."""

    rows: int
    kept: int
    repaired: int
    quarantined: int


class SplitCounts(_Frozen):
    """Rows stored per split, by label."""

    rows: int
    label_counts: dict[str, int]


class Verdict(_Frozen):
    """Whether a run passed, and the checks that made it fail."""

    success: bool
    blocking: list[CheckSummary] = Field(
        description="Raw-stage errors that cleaning cannot fix (no removal, no repair)."
    )
    failures: list[str] = Field(description="'check (split)' of each check that fails the run.")


def judge_run(raw: ValidationReport, cleaned: ValidationReport) -> Verdict:
    """The pass/fail decision of a run.

    A run passes when no error-severity check fails on the cleaned data and no raw-stage
    error is one that cleaning cannot act on (action ``none`` or ``flag``: counts, classes
    missing, ...). Errors that cleaning fixes by removing or repairing rows do not fail it.
    """
    blocking = [
        r
        for r in raw.results
        if not r.success
        and r.severity == Severity.ERROR
        and not r.action.removes
        and r.action.value != "repair"
    ]
    still_failing = [r for r in cleaned.results if not r.success and r.severity == Severity.ERROR]
    labels = (CheckSummary.of(r).label for r in (*blocking, *still_failing))
    return Verdict(
        success=cleaned.success and not blocking,
        blocking=[CheckSummary.of(r) for r in blocking],
        failures=list(dict.fromkeys(labels)),
    )


def _failed_warnings(checks: Iterable[CheckSummary]) -> list[CheckSummary]:
    return [c for c in checks if not c.success and c.severity == "warning" and not c.skipped]


class RunSummary(_Frozen):
    """Everything a run decided and produced; ``validation.json`` and ``run.json`` are views."""

    status: Literal["passed", "failed_validation"]
    exit_code: Literal[0, 1] = Field(description="0 passed, 1 failed validation.")
    success: bool
    dataset: str = Field(description="Dataset name from the spec (registry, file or inferred).")
    source: str = Field(description="What was read: a path or a dataset's cache folder.")
    format: str = Field(description="The reader used: idx, npz, csv, images, parquet, ...")
    counts: Counts
    splits: dict[str, SplitCounts] = Field(description="Rows stored per split.")
    checks: list[CheckSummary] = Field(description="Every check of the raw stage.")
    cleaned: StageChecks = Field(description="Every check of the cleaned stage.")
    blocking: list[CheckSummary]
    failures: list[str] = Field(description="'check (split)' of each check that fails the run.")
    warnings: list[CheckSummary] = Field(description="Warning checks that fired (both stages).")
    drift: list[CheckSummary] = Field(description="Drift checks against --reference.")
    training: Training = "skipped"
    artefacts: dict[str, str | None] = Field(
        default_factory=dict, description="run.json key -> path relative to the run folder."
    )
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    started: str = Field("", description="ISO time the run started (UTC).")
    finished: str = Field("", description="ISO time the run finished (UTC).")
    seconds: float = Field(0.0, description="Wall-clock seconds of the whole run.")
    dataqual_version: str

    @classmethod
    def build(cls, raw: ValidationReport, cleaned: ValidationReport, **fields: Any) -> RunSummary:
        """The summary of a run whose stages produced ``raw`` and ``cleaned``; ``fields``
        give the rest (dataset, source, format, counts, splits, ...)."""
        verdict = judge_run(raw, cleaned)
        checks = [CheckSummary.of(r) for r in raw.results]
        stage = StageChecks.of(cleaned)
        return cls(
            status="passed" if verdict.success else "failed_validation",
            exit_code=0 if verdict.success else 1,
            success=verdict.success,
            checks=checks,
            cleaned=stage,
            blocking=verdict.blocking,
            failures=verdict.failures,
            warnings=_failed_warnings([*checks, *stage.checks]),
            drift=[c for c in checks if c.name.startswith("drift_")],
            **fields,
        )

    def validation_json(self) -> dict[str, Any]:
        """The content of ``validation.json``."""
        keys = ("success", "dataset", "source", "format", "counts", "splits", "checks")
        more = ("cleaned", "blocking", "failures", "warnings", "drift")
        return self.model_dump(mode="json", include={*keys, *more})

    def run_json(self) -> dict[str, Any]:
        """The content of ``run.json``: status, artefact paths, counts and timings."""
        data = self.model_dump(mode="json")
        artefacts = {key: self.artefacts.get(key) for key in ARTEFACTS}
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "training": self.training,
            **artefacts,
            **{k: self.artefacts.get(k) for k in ("model", "card", "inference", "compare_raw")},
            **{k: data[k] for k in ("counts", "dataset", "source", "format")},
            **{k: data[k] for k in ("started", "finished", "seconds", "dataqual_version")},
            "failures": self.failures,
            "timings": self.timings,
        }
