"""The report pairs a finding with its partner row from the profile column the check's
analyser declares (``partner_columns()``), never from the detail text."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
import pytest

from dataqual.checks import registry
from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.registry import Partner, analysers
from dataqual.profile import Profile
from dataqual.report.gallery import plan_galleries


def finding(rid: str, check: str, detail: str = "") -> dict[str, str]:
    return {"id": rid, "split": "train", "check": check, "severity": "error", "action": "drop",
            "detail": detail, "stage": "raw"}  # fmt: skip


PROFILE = pd.DataFrame(
    {
        "id": ["train/0", "train/1", "train/2", "train/3", "train/4", "test/0"],
        "content_hash": ["a", "a", "b", "c", "c", "d"],
        "duplicate_of": [None, "train/0", None, None, "train/3", None],
        "leaks_into": [None, None, "test/0", None, None, None],
        "near_duplicate_of": [None, None, None, "train/2", None, None],
        "near_leaks_into": [None, None, None, None, "test/0", None],
    }
)


def partners(findings: list[dict[str, str]]) -> dict[tuple[str, str], tuple[str | None, str]]:
    galleries = plan_galleries(pd.DataFrame(findings), PROFILE)
    return {(g.check, r.id): (r.partner, r.relation) for g in galleries for r in g.rows}


def test_partners_come_from_the_declared_profile_columns() -> None:
    found = partners(
        [
            finding("train/1", "exact_duplicate", "duplicate_of=train/99"),  # detail is not read
            finding("train/2", "leakage"),
            finding("train/3", "near_duplicate"),
            finding("train/0", "duplicate_label_conflict"),
            finding("train/4", "near_leakage", "near_leaks_into=test/0"),
            finding("train/2", "blank_image", "duplicate_of=train/0"),
        ]
    )
    assert found == {
        ("exact_duplicate", "train/1"): ("train/0", "duplicate of"),
        ("leakage", "train/2"): ("test/0", "leaks into"),
        ("near_duplicate", "train/3"): ("train/2", "near duplicate of"),
        ("duplicate_label_conflict", "train/0"): ("train/1", "same image as"),
        ("near_leakage", "train/4"): (None, ""),  # no partner declared for it
        ("blank_image", "train/2"): (None, ""),
    }


def test_a_plugin_partner_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    analysers()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_analyser
    class Toy(registry.Analyser[registry.AnalyserSettings]):
        name: ClassVar[str] = "toy_pairs"
        partners: ClassVar[dict[str, Partner]] = {
            "near_leakage": Partner("near_leaks_into", "nearly leaks into")
        }

        def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
            raise NotImplementedError

    found = partners([finding("train/4", "near_leakage")])
    assert found == {("near_leakage", "train/4"): ("test/0", "nearly leaks into")}


def test_no_profile_means_no_partner() -> None:
    galleries = plan_galleries(pd.DataFrame([finding("train/1", "exact_duplicate")]), None)
    assert [(r.partner, r.relation) for g in galleries for r in g.rows] == [(None, "")]
