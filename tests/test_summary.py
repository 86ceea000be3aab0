"""The typed run summary: the pass/fail decision, its JSON views and its published schema."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np

from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.summary import RunSummary, judge_run
from dataqual.validate.report import ValidationReport

ROOT = Path(__file__).resolve().parents[1]


def result(name: str, *, ok: bool, severity: str = "error", action: str = "none") -> CheckResult:
    ids = np.array([] if ok else ["train/1"], dtype=str)
    return CheckResult(
        name=name,
        description=name,
        severity=Severity(severity),
        action=Action(action),
        success=ok,
        split="train",
        ids=ids,
    )


def report(stage: str, *results: CheckResult) -> ValidationReport:
    return ValidationReport(stage=stage, results=list(results))


def test_a_clean_run_passes() -> None:
    verdict = judge_run(
        report("raw", result("a", ok=True)), report("cleaned", result("a", ok=True))
    )
    assert verdict.success and verdict.blocking == [] and verdict.failures == []


def test_errors_that_cleaning_fixes_do_not_fail_the_run() -> None:
    raw = report(
        "raw",
        result("blank", ok=False, action="quarantine"),
        result("inverted", ok=False, action="repair"),
        result("dup", ok=False, action="drop"),
    )
    assert judge_run(raw, report("cleaned", result("blank", ok=True))).success


def test_an_error_cleaning_cannot_act_on_blocks() -> None:
    raw = report("raw", result("rows", ok=False), result("odd", ok=False, action="flag"))
    verdict = judge_run(raw, report("cleaned"))
    assert not verdict.success
    assert [c.name for c in verdict.blocking] == ["rows", "odd"]
    assert verdict.failures == ["rows (train)", "odd (train)"]


def test_an_error_still_failing_after_cleaning_fails_and_warnings_never_do() -> None:
    cleaned = report(
        "cleaned", result("classes", ok=False), result("w", ok=False, severity="warning")
    )
    verdict = judge_run(report("raw"), cleaned)
    assert not verdict.success and verdict.blocking == []
    assert verdict.failures == ["classes (train)"]
    only_warning = report("cleaned", result("w", ok=False, severity="warning"))
    assert judge_run(report("raw"), only_warning).success


def _summary(raw: ValidationReport, cleaned: ValidationReport) -> RunSummary:
    return RunSummary.build(
        raw,
        cleaned,
        dataset="d",
        source="s",
        format="idx",
        counts={"rows": 3, "kept": 2, "repaired": 0, "quarantined": 1},
        splits={"train": {"rows": 2, "label_counts": {"0": 2}}},
        dataqual_version="0",
    )


def test_json_views_keep_every_key_users_read() -> None:
    s = _summary(report("raw", result("rows", ok=False)), report("cleaned"))
    validation = s.validation_json()
    assert list(validation)[:9] == [
        "success", "dataset", "source", "format", "counts", "splits", "checks", "cleaned",
        "blocking",
    ]  # fmt: skip
    assert validation["success"] is False and validation["blocking"][0]["name"] == "rows"
    run = s.run_json()
    for key in ("status", "exit_code", "training", "manifest", "validation", "quarantine",
                "findings", "report", "data_docs", "metrics", "profile", "label_issues",
                "model", "card", "inference", "counts", "dataset", "source", "format",
                "started", "finished", "seconds", "dataqual_version"):  # fmt: skip
        assert key in run, key
    assert (run["status"], run["exit_code"]) == ("failed_validation", 1)
    assert RunSummary.model_validate(s.model_dump(mode="json")) == s  # round-trips


def test_warnings_and_drift_are_listed() -> None:
    drift = result("drift_labels", ok=False, severity="warning")
    s = _summary(report("raw", drift, result("rows", ok=True)), report("cleaned"))
    assert [c.name for c in s.warnings] == ["drift_labels"]
    assert [c.name for c in s.drift] == ["drift_labels"]
    assert s.success


def test_the_published_schema_is_current() -> None:
    module = runpy.run_path(str(ROOT / "scripts" / "write_schema.py"))
    published = (ROOT / "docs" / "run_summary.schema.json").read_text()
    assert published == module["schema_text"](), "run: python scripts/write_schema.py"
    assert "RunSummary" in json.loads(published)["title"]
