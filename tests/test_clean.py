"""Cleaning plans from hand-built validation reports: remove, repair, invert and their reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.clean import plan_cleaning
from dataqual.validate.report import ValidationReport

IDS = ["train/0", "train/1", "train/2", "train/3", "train/4", "train/5", "test/0", "test/1"]


def failing(
    name: str,
    action: Action,
    ids: list[str],
    details: list[str] | None = None,
    repair: str | None = None,
    success: bool = False,
    split: str | None = "train",
) -> CheckResult:
    return CheckResult(
        name=name,
        description=f"{name} check",
        severity=Severity.ERROR,
        action=action,
        success=success,
        split=split,
        ids=np.array(ids, dtype=str),
        details=np.array(details if details is not None else [], dtype=str),
        repair=repair,
    )


def mask(*ids: str) -> list[bool]:
    return [i in ids for i in IDS]


@pytest.fixture
def report() -> ValidationReport:
    return ValidationReport(
        stage="raw",
        results=[
            failing(
                "label_in_classes",
                Action.QUARANTINE,
                ["train/1", "train/2"],
                ["label=11", "label=12"],
            ),
            failing(
                "inverted_image",
                Action.REPAIR,
                ["train/2", "train/3"],
                ["border_mean=255.0"] * 2,
                repair="invert",
            ),
            failing(
                "pixel_max_in_range", Action.REPAIR, ["train/4"], ["pixel_max=300.0"], repair="clip"
            ),
            failing(
                "exact_duplicate",
                Action.DROP,
                ["train/1", "test/1"],
                ["duplicate_of=train/0", "duplicate_of=test/0"],
                split=None,
            ),
            failing("noise", Action.FLAG, ["train/5"], ["midtone_fraction=0.4"]),
            # passing results and table-level failures never touch rows
            failing("blank_image", Action.QUARANTINE, ["train/0"], ["std=0.0"], success=True),
            failing("row_count", Action.NONE, []),
            # details missing (not one per id): the reasons still count, with empty details
            failing("unreadable_record", Action.QUARANTINE, ["test/1"], []),
        ],
    )


def test_masks(report: ValidationReport) -> None:
    plan = plan_cleaning(IDS, report)
    assert plan.ids.tolist() == IDS
    assert plan.remove.tolist() == mask("train/1", "train/2", "test/1")
    # train/2 is both quarantined and up for repair: removal wins
    assert plan.repair.tolist() == mask("train/2", "train/3", "train/4")
    # invert only where the repair is "invert" and the row stays
    assert plan.invert.tolist() == mask("train/3")
    assert not (plan.invert & plan.remove).any()


def test_counts(report: ValidationReport) -> None:
    counts = plan_cleaning(IDS, report).counts
    assert counts == {"rows": 8, "kept": 5, "repaired": 2, "quarantined": 3}


def test_reasons_and_details_per_removed_id(report: ValidationReport) -> None:
    plan = plan_cleaning(IDS, report)
    assert plan.reasons.to_dict() == {
        "train/1": ["label_in_classes", "exact_duplicate"],
        "train/2": ["label_in_classes"],
        "test/1": ["exact_duplicate", "unreadable_record"],
    }
    assert plan.details.to_dict() == {
        "train/1": ["label=11", "duplicate_of=train/0"],
        "train/2": ["label=12"],
        "test/1": ["duplicate_of=test/0", ""],
    }


def test_ids_as_a_series_and_rows_for(report: ValidationReport) -> None:
    plan = plan_cleaning(pd.Series(IDS, dtype="string"), report)
    assert plan.rows_for(np.array(["test/1", "train/0", "train/3"])).tolist() == [7, 0, 3]
    with pytest.raises(KeyError, match=r"1 ids are not in the cleaning plan, e\.g\. val/0"):
        plan.rows_for(np.array(["train/0", "val/0"]))


def test_empty_report_keeps_everything() -> None:
    plan = plan_cleaning(IDS, ValidationReport(stage="raw", results=[]))
    assert not plan.remove.any() and not plan.repair.any() and not plan.invert.any()
    assert plan.counts == {"rows": 8, "kept": 8, "repaired": 0, "quarantined": 0}
    assert len(plan.reasons) == 0 and len(plan.details) == 0


def test_repair_only_rows_have_no_reasons() -> None:
    report = ValidationReport(
        stage="raw",
        results=[
            failing(
                "inverted_image", Action.REPAIR, ["train/0"], ["border_mean=200.0"], repair="invert"
            ),
            failing(
                "image_shape", Action.REPAIR, ["train/0", "train/5"], ["x", "y"], repair="resize"
            ),
        ],
    )
    plan = plan_cleaning(IDS, report)
    assert plan.repair.tolist() == mask("train/0", "train/5")
    assert plan.invert.tolist() == mask("train/0")
    assert plan.counts == {"rows": 8, "kept": 8, "repaired": 2, "quarantined": 0}
    assert len(plan.reasons) == 0
