"""The Great Expectations adapter and ``validate_profile``, with real GX runs on tiny tables.

GX is slow to import (seconds), so these tests are few and each checks a lot.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.imageset import ImageBatch, position_ids
from dataqual.profile import profile_batches
from dataqual.spec import DatasetSpec
from dataqual.validate import split_parameters, validate_profile
from dataqual.validate.gx_engine import STORE_FOLDER, GxValidator
from dataqual.validate.gx_frame import html_safe
from dataqual.validate.suites import Suite, load_suites

CRAFTED: dict[str, Any] = {
    "name": "crafted",
    "meta": {"dataqual": {"version": "3"}},
    "expectations": [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "std", "min_value": 4.0},
            "meta": {"check": "blank", "action": "quarantine", "description": "not blank"},
        },
        {
            "type": "expect_table_row_count_to_equal",
            "kwargs": {"value": {"$PARAMETER": "expected_rows"}},
            "meta": {"check": "rows", "action": "none"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "std", "max_value": {"$PARAMETER": "nobody_declares_this"}},
            "meta": {"check": "undeclared", "severity": "warning", "action": "flag"},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "label", "value_set": {"$PARAMETER": "classes"}},
            "meta": {"check": "label_ok", "action": "quarantine"},
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "label"},
            "meta": {"check": "label_present", "action": "quarantine"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "border_mean", "max_value": 64},
            "meta": {"check": "dark_border", "action": "repair", "repair": "invert"},
        },
    ],
}


@pytest.fixture
def crafted_suite(tmp_path: Path) -> Suite:
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "crafted.json").write_text(json.dumps(CRAFTED))
    (suite,) = load_suites(folder)
    return suite


def crafted_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.array([f"train/{i}" for i in range(6)], dtype="string"),
            "std": np.array(
                [10.0, 0.5, 20.0, 3.25, 4.0, 50.0], np.float32
            ),  # 4.0: bound is inclusive
            "label": pd.array([1, 11, 2, None, 0, 12], dtype="Int64"),
            "border_mean": np.array([0, 0, 255, 0, 64, 0], np.float32),
        }
    )


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    out = {r.name: r for r in results}
    assert len(out) == len(results)
    return out


def test_gx_run_returns_exact_failing_ids_details_and_skips(
    tmp_path: Path, crafted_suite: Suite
) -> None:
    validator = GxValidator(docs_dir=tmp_path / "docs")
    results = validator.validate(
        crafted_table(),
        crafted_suite,
        stage="raw",
        split="train",
        parameters={"classes": [0, 1, 2], "expected_rows": 6},
    )
    got = by_name(results)
    assert set(got) == {"blank", "rows", "undeclared", "label_ok", "label_present", "dark_border"}
    for r in results:
        assert (r.suite, r.engine, r.stage, r.split) == ("crafted", "gx", "raw", "train")

    blank = got["blank"]
    assert not blank.success
    assert blank.ids.tolist() == ["train/1", "train/3"]
    assert blank.details.tolist() == ["std=0.5", "std=3.25"]
    assert (blank.action, blank.severity) == (Action.QUARANTINE, Severity.ERROR)
    assert blank.description == "not blank"
    assert blank.element_count == 6
    assert blank.observed["unexpected_count"] == 2

    # a value set check ignores nulls; the null check reports them
    assert got["label_ok"].ids.tolist() == ["train/1", "train/5"]
    assert got["label_ok"].details.tolist() == ["label=11", "label=12"]
    assert got["label_present"].ids.tolist() == ["train/3"]

    dark = got["dark_border"]
    assert dark.ids.tolist() == ["train/2"]
    assert (dark.action, dark.repair) == (Action.REPAIR, "invert")

    rows = got["rows"]
    assert rows.success and rows.skipped is None
    assert len(rows.ids) == 0 and rows.observed["observed_value"] == 6

    skipped = got["undeclared"]
    assert skipped.success and skipped.skipped == "not declared: nobody_declares_this"
    assert (skipped.severity, skipped.action) == (Severity.WARNING, Action.FLAG)
    assert len(skipped.ids) == 0

    # the same suite on another split, with a row count that does not match
    test_results = by_name(
        validator.validate(
            crafted_table().iloc[:2],
            crafted_suite,
            stage="raw",
            split="test",
            parameters={"classes": [0, 1, 2], "expected_rows": None},
        )
    )
    assert test_results["rows"].skipped == "not declared: expected_rows"
    assert test_results["blank"].ids.tolist() == ["train/1"]

    index = validator.build_docs()
    assert index == tmp_path / "docs" / "index.html"
    html = index.read_text()
    assert "crafted.raw_train" in html and "crafted.raw_test" in html


def test_table_level_failure_and_no_docs_site(crafted_suite: Suite) -> None:
    validator = GxValidator()
    got = by_name(
        validator.validate(
            crafted_table(),
            crafted_suite,
            stage="cleaned",
            split=None,
            parameters={"classes": [0, 1, 2, 11, 12], "expected_rows": 7},
        )
    )
    assert not got["rows"].success
    assert got["rows"].observed["observed_value"] == 6
    assert len(got["rows"].ids) == 0 and got["rows"].unexpected_count == 0
    assert got["label_ok"].success and len(got["label_ok"].ids) == 0
    assert got["rows"].split is None and got["rows"].stage == "cleaned"
    assert validator.build_docs() is None


# ------------------------------------------------------------------------ validate_profile


def digit(k: int) -> np.ndarray:
    """A distinct, well-formed 'digit': a 12x8 white bar in the centre with one hole."""
    img = np.zeros((28, 28), np.uint8)
    img[8:20, 10:18] = 255
    img[8 + k // 8 % 12, 10 + k % 8] = 0
    return img


def batch(split: str, images: list[np.ndarray], labels: list[int], start: int = 0) -> ImageBatch:
    stop = start + len(images)
    return ImageBatch(
        split=split,
        ids=position_ids(split, start, stop),
        labels=np.array(labels, np.int64),
        images=np.stack(images),
        positions=np.arange(start, stop),
    )


def test_split_parameters() -> None:
    spec = DatasetSpec(classes=[0, 1, 2], expected_rows={"train": 100}, max_quarantine_fraction=0.1)
    raw_rows = {"train": 90, "test": 31}
    assert split_parameters(spec, "train", (28, 30), raw_rows) == {
        "classes": [0, 1, 2],
        "expected_rows": 100,
        "min_rows_after_cleaning": 90,
        "crop_limit_rows": 27,
        "crop_limit_cols": 29,
    }
    test = split_parameters(spec, "test", (28, 30), raw_rows)
    assert test["expected_rows"] is None
    assert test["min_rows_after_cleaning"] == 28  # ceil(31 * 0.9) from the raw rows
    assert split_parameters(spec, None, (28, 28), raw_rows)["min_rows_after_cleaning"] == 109


def core_suites() -> list:
    """The completeness, accuracy and duplicate suites: the checks these tests plant for."""
    return [s for s in load_suites() if s.name in {"accuracy", "completeness", "duplicates"}]


def test_validate_profile_finds_duplicate_leak_and_bad_label() -> None:
    train = [digit(0), digit(1), digit(2), digit(1), digit(50), digit(3), digit(4)]
    test = [digit(50), digit(60), digit(61)]
    profile = profile_batches(
        [
            batch("train", train[:4], [0, 1, 2, 1]),
            batch("train", train[4:], [0, 11, 2], start=4),
            batch("test", test, [0, 1, 2]),
        ],
        (28, 28),
    )
    spec = DatasetSpec(classes=[0, 1, 2], expected_rows={"train": 7})
    before = list(profile.table.columns)

    enriched, report = validate_profile(
        profile, stage="raw", spec=spec, validator=GxValidator(), suites=core_suites()
    )

    assert list(profile.table.columns) == before  # the input is not modified
    table = enriched.table.set_index("id")
    assert table["duplicate_of"].dropna().to_dict() == {"train/3": "train/1"}
    assert table["leaks_into"].dropna().to_dict() == {"train/4": "test/0"}
    assert not table["duplicate_label_conflict"].any()

    # Row-level checks may run per split or once over all rows (split None): key by name.
    failed = {r.name: r for r in report.results if not r.success}
    assert len(failed) == len([r for r in report.results if not r.success])
    assert set(failed) == {"exact_duplicate", "leakage", "label_in_classes"}
    assert failed["exact_duplicate"].ids.tolist() == ["train/3"]
    assert failed["exact_duplicate"].details.tolist() == ["duplicate_of=train/1"]
    assert failed["exact_duplicate"].action == Action.DROP
    assert failed["leakage"].ids.tolist() == ["train/4"]
    assert failed["leakage"].details.tolist() == ["leaks_into=test/0"]
    assert failed["label_in_classes"].ids.tolist() == ["train/5"]
    assert failed["label_in_classes"].details.tolist() == ["label=11"]
    assert failed["label_in_classes"].action == Action.QUARANTINE
    assert not report.success
    assert report.stage == "raw"

    # every raw-stage check ran, covering both splits
    splits: dict[str, list[str | None]] = {}
    for r in report.results:
        splits.setdefault(r.name, []).append(r.split)
    # GX checks of the suites, plus the table-level result of the analyser completeness names
    expected = {m.check for s in core_suites() for _, m in s.for_stage("raw")} | {"class_balance"}
    assert set(splits) == expected
    for name, seen in splits.items():
        assert sorted(seen, key=str) in ([None], ["test", "train"]), name
    row_count = {r.split: r for r in report.results if r.name == "row_count"}
    assert row_count["train"].success and row_count["train"].skipped is None
    assert row_count["train"].observed["observed_value"] == 7
    assert row_count["test"].skipped == "not declared: expected_rows"

    findings = report.findings()
    assert sorted(zip(findings["id"], findings["check"], findings["split"], strict=True)) == [
        ("train/3", "exact_duplicate", "train"),
        ("train/4", "leakage", "train"),
        ("train/5", "label_in_classes", "train"),
    ]


# ------------------------------------------------------------------------ hostile text


HOSTILE = "<img src=x onerror=alert(1)>"
ENTITY = "a&lt;b"  # must come back as written, not as "a<b"


def test_ids_that_are_markup_reach_data_docs_escaped_and_results_true(tmp_path: Path) -> None:
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "hostile.json").write_text(
        json.dumps(
            {
                "name": "hostile",
                "meta": {"dataqual": {"version": "1", "analysers": {"exact_duplicates": {}}}},
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "std", "min_value": 4.0},
                        "meta": {"check": "blank", "action": "quarantine"},
                    },
                    {
                        "type": "expect_column_values_to_be_null",
                        "kwargs": {"column": "duplicate_of"},
                        "meta": {"check": "dup", "action": "drop"},
                    },
                    {
                        "type": "expect_column_values_to_be_unique",
                        "kwargs": {"column": "id"},
                        "meta": {"check": "unique", "action": "quarantine"},
                    },
                ],
            }
        )
    )
    (suite,) = load_suites(folder)
    ids = [
        "train/0",
        f"train/{HOSTILE}",
        '"><svg onload=alert(2)>',
        ENTITY,
        f"train/{HOSTILE}",
        "a<b",
    ]
    table = pd.DataFrame(
        {
            "id": pd.array(ids, dtype="string"),
            "std": np.array([10, 0, 0, 0, 10, 10], np.float32),
            "duplicate_of": pd.Series(
                [None, None, f"train/{HOSTILE}", None, None, ENTITY], dtype=object
            ),
        }
    )
    validator = GxValidator(docs_dir=tmp_path / "docs")
    got = by_name(validator.validate(table, suite, stage="raw", split='te.st"<b>', parameters={}))

    assert got["blank"].ids.tolist() == ids[1:4]
    assert got["dup"].ids.tolist() == ['"><svg onload=alert(2)>', "a<b"]
    assert got["dup"].details.tolist() == [
        f"duplicate_of=train/{HOSTILE}",
        f"duplicate_of={ENTITY}",
    ]
    # escaping is injective: the same id twice is still a duplicate, a<b and a&lt;b are not
    assert got["unique"].ids.tolist() == [f"train/{HOSTILE}"] * 2
    assert got["unique"].details.tolist() == [f"id=train/{HOSTILE}"] * 2
    assert table["id"].tolist() == ids  # the caller's table is untouched

    validator.build_docs()
    docs = tmp_path / "docs"
    pages = {p.relative_to(docs).as_posix(): p.read_text() for p in docs.rglob("*.html")}
    # the split is made plain in GX names: no markup in titles, no dot-made folders
    assert "expectations/hostile/raw_te_st__b_.html" in pages
    for name, text in pages.items():
        assert "<img src=x" not in text and "<svg" not in text and "<b>" not in text, name
    (results,) = [t for n, t in pages.items() if n.startswith("validations/")]
    # failing rows are shown by row number; text values (the repeated id, the duplicate's
    # partner) as their very text, escaped once
    for value in (f"train/{HOSTILE}", ENTITY):
        assert html.escape(value) in results, value


def test_markup_check_leaves_plain_text_alone_and_escapes_only_what_holds_markup() -> None:
    plain = pd.DataFrame({"id": pd.array([f"train/{i}" for i in range(1000)], dtype="string")})
    same, original = html_safe(plain)
    assert same is plain and original == {}  # no copy, no map: nothing to escape

    # a slice whose buffer holds markup outside it: the slice itself is left as it is
    mixed = pd.Series(pd.array(["a<b", "plain", "x&y", None], dtype="string"))
    table = pd.DataFrame({"id": mixed.iloc[1:2].reset_index(drop=True), "n": [1]})
    same, original = html_safe(table)
    assert same["id"].tolist() == ["plain"] and original == {}

    safe, original = html_safe(pd.DataFrame({"id": mixed, "other": [None, 1, "<", 2.0]}))
    assert safe["id"].tolist()[:3] == ["a&lt;b", "plain", "x&amp;y"] and pd.isna(safe["id"][3])
    assert safe["other"].tolist()[2] == "&lt;"
    assert original == {"a&lt;b": "a<b", "x&amp;y": "x&y", "&lt;": "<"}


# ------------------------------------------------------------------------ one site, many stages


def _validate_in_child(docs: Path, suite: Suite, stage: str) -> list[bool]:
    """Run in another process: a validator made from the docs folder alone."""
    validator = GxValidator(docs)
    results = validator.validate(
        crafted_table(), suite, stage=stage, split="train", parameters={"classes": [0, 1, 2]}
    )
    return [r.success for r in results]


def test_validators_on_one_folder_share_one_data_docs_site(
    tmp_path: Path, crafted_suite: Suite
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    docs = tmp_path / "staging" / "data_docs"
    params = {"classes": [0, 1, 2], "expected_rows": 6}
    raw = GxValidator(docs).validate(
        crafted_table(), crafted_suite, stage="raw", split="train", parameters=params
    )
    assert not by_name(raw)["blank"].success
    # the same stage again from a new validator: a new name, not a clash with the first
    again = GxValidator(docs)
    again.validate(crafted_table(), crafted_suite, stage="raw", split="train", parameters=params)
    # a stage validated in another process, from the folder path alone
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        child = pool.submit(_validate_in_child, docs, crafted_suite, "cleaned").result()
    assert len(child) == len(raw) and not all(child)

    index = GxValidator(docs).build_docs()  # a fresh validator renders every stage's results
    assert index == docs / "index.html"
    text = index.read_text()
    for name in ("raw_train", "raw_train-2", "cleaned_train"):  # linked from the index
        assert f'href="expectations/crafted/{name}.html"' in text, name
        assert f"'validations/crafted/{name}/" in text, name
    validations = [p for p in (docs / "validations").rglob("*.html")]
    assert len(validations) == 3
    suites_pages = sorted(p.stem for p in (docs / "expectations" / "crafted").glob("*.html"))
    assert suites_pages == ["cleaned_train", "raw_train", "raw_train-2"]


def test_passing_map_expectations_report_zero_counts_and_failing_ones_every_row(
    tmp_path: Path, crafted_suite: Suite
) -> None:
    docs = tmp_path / "docs"
    validator = GxValidator(docs)
    got = by_name(
        validator.validate(
            crafted_table(),
            crafted_suite,
            stage="raw",
            split=None,
            parameters={"classes": [0, 1, 2, 11, 12]},
            row_level=True,
        )
    )
    ok = got["label_ok"]
    assert ok.success and len(ok.ids) == 0 and len(ok.details) == 0
    assert ok.observed == {"unexpected_count": 0, "unexpected_percent": 0.0}
    assert ok.element_count == 6
    blank = got["blank"]
    assert blank.observed == {"unexpected_count": 2, "unexpected_percent": pytest.approx(100 / 3)}
    assert blank.ids.tolist() == ["train/1", "train/3"]
    # the kept result holds every expectation, failing ones with their rows
    (stored,) = (docs / STORE_FOLDER / "validations").rglob("*.json")
    kept = {
        r["expectation_config"]["meta"]["check"]: r
        for r in json.loads(stored.read_text())["results"]
    }
    assert set(kept) == {"blank", "label_ok", "label_present", "dark_border"}
    assert kept["blank"]["result"]["unexpected_index_list"] == [1, 3]
    assert kept["label_ok"]["success"] and not kept["label_ok"]["result"]  # pass/fail only
    index = validator.build_docs()
    assert index is not None and (docs / "validations").is_dir()


def test_an_expectation_that_passes_with_mostly_still_names_its_failing_rows(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "suites"
    folder.mkdir()
    expectation = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "std", "min_value": 4.0, "mostly": 0.5},
        "meta": {"check": "mostly_ok", "severity": "warning", "action": "flag"},
    }
    (folder / "mostly.json").write_text(
        json.dumps({"name": "mostly", "meta": {"dataqual": {}}, "expectations": [expectation]})
    )
    (suite,) = load_suites(folder)
    (got,) = GxValidator().validate(
        crafted_table(), suite, stage="raw", split=None, parameters={}, row_level=True
    )
    assert got.success  # 2 of 6 rows below 4.0: within mostly
    assert got.ids.tolist() == ["train/1", "train/3"]
    assert got.details.tolist() == ["std=0.5", "std=3.25"]
    assert got.observed["unexpected_count"] == 2


def test_a_store_folder_elsewhere_keeps_the_results_out_of_the_docs_folder(
    tmp_path: Path, crafted_suite: Suite
) -> None:
    docs, store = tmp_path / "docs", tmp_path / "store"
    GxValidator(docs, store_dir=store).validate(
        crafted_table(),
        crafted_suite,
        stage="raw",
        split=None,
        parameters={"expected_rows": 6},
        row_level=False,
    )
    assert list((store / "validations").rglob("*.json"))
    assert not (docs / STORE_FOLDER).exists()
    assert GxValidator(docs).build_docs() is not None  # a store that is empty renders too
    assert GxValidator(docs, store_dir=store).build_docs() == docs / "index.html"
    assert "crafted.raw_all_table" in (docs / "index.html").read_text()


def test_every_failing_row_gets_its_detail_beyond_gx_list_cap(
    tmp_path: Path, crafted_suite: Suite
) -> None:
    """GX caps ``unexpected_list`` (200 values) but not the index list: each of 450 failing
    rows still gets its own ``column=value`` detail (the relabel repair reads its class there)."""
    n = 450
    table = pd.DataFrame(
        {
            "id": pd.array([f"train/{i}" for i in range(n)], dtype="string"),
            "std": np.arange(n, dtype=np.float32) / 1000,  # every row < 4: all fail "blank"
            "label": pd.array(np.arange(n) % 3, dtype="Int64"),
            "border_mean": np.zeros(n, np.float32),
        }
    )
    blank = by_name(
        GxValidator(tmp_path / "docs").validate(
            table,
            crafted_suite,
            stage="raw",
            split=None,
            parameters={"classes": [0, 1, 2]},
            row_level=True,
        )
    )["blank"]
    assert len(blank.ids) == n and len(blank.details) == n
    rows = [int(i.split("/")[1]) for i in blank.ids]
    assert blank.details.tolist() == [f"std={table['std'][r]}" for r in rows]
