"""Loading expectation suites: the shipped ``expectations/`` folder and crafted folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dataqual.checks.base import Action, Severity
from dataqual.checks.registry import AnalyserSettings
from dataqual.errors import ConfigError
from dataqual.validate.suites import default_suites_dir, load_suites

REPO = Path(__file__).resolve().parents[2]


def expectation(check: str, column: str = "std", **meta: Any) -> dict[str, Any]:
    return {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": column, "min_value": 0},
        "meta": {"check": check, **meta},
    }


def write_suite(
    folder: Path,
    name: str,
    expectations: list[dict[str, Any]],
    dataqual: dict[str, Any] | None = None,
    file: str | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"name": name, "expectations": expectations}
    if dataqual is not None:
        doc["meta"] = {"dataqual": dataqual}
    path = folder / (file or f"{name}.json")
    path.write_text(json.dumps(doc))
    return path


# ------------------------------------------------------------------------ shipped suites


def test_default_folder_is_the_repositorys() -> None:
    assert default_suites_dir() == REPO / "expectations"


def test_shipped_suites() -> None:
    suites = load_suites()
    assert [s.name for s in suites] == [
        "accuracy",
        "completeness",
        "drift",
        "duplicates",
        "label_issues",
        "near_duplicates",
    ]
    assert [s.path for s in suites] == [REPO / "expectations" / f"{s.name}.json" for s in suites]
    checks = {m.check: (s.name, m) for s in suites for _, m in s.expectations}
    # every check name is unique across the suites, and each expectation has one
    assert sum(len(s.expectations) for s in suites) == len(checks)
    for name in (
        "label_in_classes",
        "blank_image",
        "inverted_image",
        "label_missing",
        "row_count",
        "rows_kept",
        "exact_duplicate",
        "leakage",
        "duplicate_label_conflict",
    ):
        assert name in checks
    inverted = checks["inverted_image"][1]
    assert (inverted.action, inverted.repair) == (Action.REPAIR, "invert")
    assert inverted.severity == Severity.ERROR
    assert checks["exact_duplicate"][1].action == Action.DROP
    assert checks["leakage"][1].action == Action.DROP
    assert checks["label_in_classes"][1].action == Action.QUARANTINE
    assert checks["ink_amount"][1].severity == Severity.WARNING
    raw_only = {"label_issues"}  # the label audit runs once, on the raw data
    assert not next(s for s in suites if s.name == "drift").expectations  # one drift engine
    for suite in suites:
        assert suite.meta.scope == "split" and suite.version == "1"
        assert suite.meta.stages == (["raw"] if suite.name in raw_only else ["raw", "cleaned"])


def test_stage_selection_of_shipped_suites() -> None:
    completeness = {s.name: s for s in load_suites()}["completeness"]
    raw = [m.check for _, m in completeness.for_stage("raw")]
    cleaned = [m.check for _, m in completeness.for_stage("cleaned")]
    assert "row_count" in raw and "row_count" not in cleaned
    assert "rows_kept" in cleaned and "rows_kept" not in raw
    assert len(raw) == len(cleaned) == len(completeness.expectations) - 1


def test_loading_the_folder_explicitly_gives_the_same(tmp_path: Path) -> None:
    explicit = load_suites(REPO / "expectations")
    assert [s.document for s in explicit] == [s.document for s in load_suites()]


# ------------------------------------------------------------------------ crafted folders


def test_crafted_folder_sorted_by_file_with_defaults(tmp_path: Path) -> None:
    write_suite(tmp_path, "zz_second", [expectation("b_check")])
    write_suite(
        tmp_path,
        "aa_first",
        [expectation("a_check", severity="warning", action="flag", stages=["cleaned"])],
        dataqual={
            "version": "7",
            "stages": ["raw"],
            "scope": "dataset",
            "analysers": {"exact_duplicates": {"notes": "why"}},
            "notes": "a crafted suite",
        },
    )
    (tmp_path / "notes.txt").write_text("not a suite")
    first, second = load_suites(tmp_path)
    assert (first.name, second.name) == ("aa_first", "zz_second")
    assert (first.version, first.meta.scope, first.meta.stages) == ("7", "dataset", ["raw"])
    assert first.meta.analysers == {"exact_duplicates": AnalyserSettings(notes="why")}
    assert first.meta.notes == "a crafted suite"
    ((exp, meta),) = first.expectations
    assert exp["kwargs"] == {"column": "std", "min_value": 0}
    assert (meta.check, meta.severity, meta.action, meta.stages) == (
        "a_check",
        Severity.WARNING,
        Action.FLAG,
        ["cleaned"],
    )
    # suite runs only at raw, the expectation only at cleaned: nothing runs at either
    assert first.for_stage("raw") == [] and first.for_stage("cleaned") == []
    # defaults: both stages, per split, severity error, action none
    assert (second.meta.stages, second.meta.scope) == (["raw", "cleaned"], "split")
    ((_, meta2),) = second.expectations
    assert (meta2.severity, meta2.action, meta2.repair, meta2.stages) == (
        Severity.ERROR,
        Action.NONE,
        None,
        None,
    )
    assert len(second.for_stage("raw")) == len(second.for_stage("cleaned")) == 1


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    write_suite(tmp_path, "good", [expectation("ok")])
    bad = tmp_path / "broken.json"
    bad.write_text('{"name": "broken", "expectations": [')
    with pytest.raises(ConfigError, match=r"broken\.json: not a valid expectation suite") as info:
        load_suites(tmp_path)
    assert str(bad) in str(info.value)


def test_duplicate_check_names_across_suites(tmp_path: Path) -> None:
    write_suite(tmp_path, "one", [expectation("same_check"), expectation("other")])
    write_suite(tmp_path, "two", [expectation("same_check", column="mean")])
    with pytest.raises(ConfigError, match="check 'same_check' is defined in both one and two"):
        load_suites(tmp_path)


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"expectations": []}, "name: required key is missing"),
        ({"name": "x"}, "expectations: required key is missing"),
        (
            {"name": "x", "expectations": [{"type": "t"}]},
            "expectations[0]: needs 'type' and 'kwargs'",
        ),
        (
            {"name": "x", "expectations": [{"type": "t", "kwargs": {}, "meta": {}}]},
            "expectations[0].meta.check: required key is missing",
        ),
        (
            {"name": "x", "expectations": [expectation("c", severity="fatal")]},
            "expectations[0].meta.severity: 'fatal' is not allowed (allowed: 'error' or 'warning')",
        ),
        ({"name": "x", "expectations": [expectation("c", action="burn")]}, "meta.action: 'burn'"),
        (
            {"name": "x", "expectations": [], "meta": {"dataqual": {"scope": "galaxy"}}},
            "meta.dataqual.scope: 'galaxy' is not allowed (allowed: 'split' or 'dataset')",
        ),
        (
            {"name": "x", "expectations": [], "meta": {"dataqual": {"stagez": ["raw"]}}},
            "meta.dataqual.stagez: unknown key (allowed: version, stages, scope, analysers, "
            "thresholds, notes)",
        ),
    ],
    ids=[
        "no-name",
        "no-expectations",
        "no-kwargs",
        "no-check",
        "bad-severity",
        "bad-action",
        "bad-scope",
        "unknown-meta-key",
    ],
)
def test_invalid_suites_name_the_file_and_problem(tmp_path: Path, doc: dict, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_suites(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert problem in message


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_suites(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"no expectation suites \(\*\.json\)"):
        load_suites(tmp_path)
