"""--compare-raw's pieces: which findings the raw model still honours, and the comparison."""

from __future__ import annotations

import numpy as np
import pytest

from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.clean.plan import plan_cleaning
from dataqual.compare import comparison, raw_report
from dataqual.config import RunConfig
from dataqual.validate.report import ValidationReport


def result(name: str, ids: list[str], action: Action, repair: str | None = None) -> CheckResult:
    return CheckResult(
        name=name,
        suite="s",
        stage="raw",
        split=None,
        severity=Severity.ERROR,
        action=action,
        repair=repair,
        success=False,
        ids=np.array(ids, dtype=str),
        details=np.array([f"x={i}" for i in ids], dtype=str),
        description=name,
    )


def test_raw_rows_leave_out_only_rows_without_a_usable_label_or_pixels() -> None:
    report = ValidationReport(
        stage="raw",
        results=[
            result("label_missing", ["a"], Action.QUARANTINE),
            result("blank_image", ["b"], Action.QUARANTINE),
            result("exact_duplicate", ["c"], Action.DROP),
            result("pixel_max_in_range", ["d"], Action.REPAIR, "clip"),
            result("inverted_image", ["e"], Action.REPAIR, "invert"),
        ],
    )
    ids = ["a", "b", "c", "d", "e", "f"]
    cleaned = plan_cleaning(ids, report)
    raw = plan_cleaning(ids, raw_report(report))
    assert cleaned.remove.tolist() == [True, True, True, False, False, False]
    assert raw.remove.tolist() == [True, False, False, False, False, False]
    assert set(cleaned.repairs) == {"invert"} and cleaned.repair.tolist()[3:5] == [True, True]
    assert not raw.repairs and not raw.repair.any()  # clip is the reader's: done in reading
    assert {r.name for r in report.results} > {r.name for r in raw_report(report).results}


def test_comparison_gives_both_accuracies_and_per_class_deltas() -> None:
    cleaned = {"test_accuracy": 0.9, "test_rows": 20, "train_rows": 90, "epochs": 2,
               "per_class_accuracy": {"0": 1.0, "1": 0.8}}  # fmt: skip
    raw = {"test_accuracy": 0.85, "train_rows": 100, "per_class_accuracy": {"0": 0.9, "1": 0.8}}
    got = comparison(cleaned, raw)
    assert got["helped"] is True and got["delta"] == pytest.approx(0.05)
    assert got["eval_rows"] == 20
    assert got["cleaned"]["train_rows"] == 90 and got["raw"]["train_rows"] == 100
    assert got["per_class"]["0"] == {"cleaned": 1.0, "raw": 0.9, "delta": pytest.approx(0.1)}
    assert got["per_class"]["1"]["delta"] == 0.0
    assert comparison({**cleaned, "test_accuracy": 0.8}, raw)["helped"] is False


def test_compare_raw_needs_training() -> None:
    with pytest.raises(ValueError, match="compare_raw trains two models"):
        RunConfig(source="x", out="y", train=False, compare_raw=True)
