"""Cleaning plans from hand-built validation reports (remove, repair and their reasons), plan
files, and the repair registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataqual import repairs
from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.clean import CleaningPlan, apply_repairs, plan_cleaning
from dataqual.errors import ConfigError, FormatError, SourceError
from dataqual.imageset import ImageBatch
from dataqual.repairs import get_repair, register_repair, repair_names
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
    # a pixel repair only where its repair is named and the row stays; reader repairs
    # (clip) are only recorded in ``repair``
    assert list(plan.repairs) == ["invert"]
    assert plan.repairs["invert"].tolist() == mask("train/3")
    assert not (plan.repairs["invert"] & plan.remove).any()


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
    assert not plan.remove.any() and not plan.repair.any() and plan.repairs == {}
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
    assert list(plan.repairs) == ["invert"] and plan.repairs["invert"].tolist() == mask("train/0")
    assert plan.counts == {"rows": 8, "kept": 8, "repaired": 2, "quarantined": 0}
    assert len(plan.reasons) == 0


# --- plans as files -----------------------------------------------------------------------


def assert_same_plan(a: CleaningPlan, b: CleaningPlan) -> None:
    assert a.equals(b)
    assert a.ids.dtype == b.ids.dtype == object and a.ids.tolist() == b.ids.tolist()
    for name in ("remove", "repair"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype == np.bool_ and left.tolist() == right.tolist()
    assert list(a.repairs) == list(b.repairs)
    for name, m in a.repairs.items():
        assert b.repairs[name].dtype == m.dtype == np.bool_
        assert b.repairs[name].tolist() == m.tolist()
    for name in ("reasons", "details"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left.dtype, left.name, left.index.name) == (right.dtype, right.name, "id")
        assert left.index.dtype == right.index.dtype == object
        assert list(left.items()) == list(right.items())


def test_plan_round_trips_through_parquet(report: ValidationReport, tmp_path: Path) -> None:
    plan = plan_cleaning(IDS, report)
    path = plan.save(tmp_path / "plan.parquet")
    loaded = CleaningPlan.load(path)
    assert_same_plan(plan, loaded)
    # the reasons keep their order (test/1 was removed after train/2)
    assert loaded.reasons.index.tolist() == ["train/1", "train/2", "test/1"]
    assert loaded.counts == plan.counts
    # plain Arrow data, readable without dataqual
    assert pq.read_table(path).column_names[:3] == ["id", "remove", "repair"]


def test_empty_plan_round_trips(tmp_path: Path) -> None:
    for ids in (IDS, []):
        plan = plan_cleaning(ids, ValidationReport(stage="raw", results=[]))
        assert_same_plan(plan, CleaningPlan.load(plan.save(tmp_path / "p.parquet")))


def test_loading_a_file_that_is_not_a_plan_names_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing\.parquet: cleaning plan not found"):
        CleaningPlan.load(tmp_path / "missing.parquet")
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"id": ["a"]}), other)
    with pytest.raises(FormatError, match=r"other\.parquet: not a cleaning plan"):
        CleaningPlan.load(other)
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(FormatError, match=r"text\.parquet: not a Parquet file"):
        CleaningPlan.load(tmp_path / "text.parquet")


# --- the repair registry ------------------------------------------------------------------


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are forgotten after it."""
    repair_names()  # built-ins in
    monkeypatch.setattr(repairs, "_PIXEL", dict(repairs._PIXEL))
    monkeypatch.setattr(repairs, "_READER", set(repairs._READER))


def test_builtin_and_reader_repairs_are_known() -> None:
    assert "invert" in repairs.pixel_repair_names()
    assert {"clip", "resize", "convert", "rescale", "invert"} <= set(repair_names())
    assert repairs.is_pixel_repair("invert") and not repairs.is_pixel_repair("clip")
    with pytest.raises(ConfigError, match=r"unknown pixel repair 'sharpen'; known: .*invert"):
        get_repair("sharpen")
    with pytest.raises(ConfigError, match=r"'clip' \(a reader repair"):
        get_repair("clip")


def test_registering_a_repair_and_refusing_a_taken_name(registry: None) -> None:
    @register_repair("zero")
    def zero(batch: ImageBatch) -> ImageBatch:
        return replace(batch, images=np.zeros_like(batch.images))

    assert get_repair("zero") is zero and "zero" in repair_names()
    with pytest.raises(ConfigError, match="'zero' is already registered"):
        register_repair("zero")(lambda b: b)
    with pytest.raises(ConfigError, match="'clip' is already registered"):
        register_repair("clip")(lambda b: b)
    register_repair("zero", replace=True)(lambda b: b)
    assert get_repair("zero") is not zero
    with pytest.raises(ConfigError, match="identifier"):
        register_repair("no such")


def test_plan_refuses_an_unknown_repair_name() -> None:
    report = ValidationReport(
        stage="raw", results=[failing("odd", Action.REPAIR, ["train/0"], ["x"], repair="sharpen")]
    )
    with pytest.raises(ConfigError, match=r"check 'odd' names unknown repair 'sharpen'"):
        plan_cleaning(IDS, report)


def _batch(n: int) -> ImageBatch:
    images = np.arange(n * 2 * 3, dtype=np.uint8).reshape(n, 2, 3)
    return ImageBatch(
        split="train",
        ids=np.array([f"train/{i}" for i in range(n)]),
        labels=np.zeros(n, np.int64),
        images=images,
        positions=np.arange(n),
    )


def test_apply_repairs_in_name_order_only_on_marked_rows(registry: None) -> None:
    @register_repair("b_flip")
    def flip(batch: ImageBatch) -> ImageBatch:
        return replace(batch, images=batch.images[:, :, ::-1].copy())

    @register_repair("a_add")
    def add(batch: ImageBatch) -> ImageBatch:
        return replace(batch, images=batch.images + np.uint8(100))

    batch = _batch(4)
    masks = {"b_flip": np.array([1, 1, 0, 0], bool), "a_add": np.array([0, 1, 1, 0], bool)}
    out = apply_repairs(batch, masks)
    x = batch.images
    assert (out.images[0] == x[0, :, ::-1]).all()
    assert (out.images[1] == (x[1] + 100)[:, ::-1]).all()  # a_add first, then b_flip
    assert (out.images[2] == x[2] + 100).all()
    assert (out.images[3] == x[3]).all()
    assert (batch.images == x).all() and out.ids.tolist() == batch.ids.tolist()
    # nothing marked: the batch itself comes back, uncopied
    assert apply_repairs(batch, {"a_add": np.zeros(4, bool)}) is batch


def test_apply_repairs_invert_and_a_repair_of_the_wrong_shape(registry: None) -> None:
    batch = _batch(3)
    out = apply_repairs(batch, {"invert": np.array([0, 1, 0], bool)})
    assert (out.images[1] == 255 - batch.images[1]).all() and (
        out.images[0] == batch.images[0]
    ).all()

    @register_repair("crop")
    def crop(batch: ImageBatch) -> ImageBatch:
        return replace(batch, images=np.ascontiguousarray(batch.images[:, :1, :]))

    with pytest.raises(ValueError, match=r"repair 'crop' returned images of shape \(1, 1, 3\)"):
        apply_repairs(batch, {"crop": np.array([1, 0, 0], bool)})
