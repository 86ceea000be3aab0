"""Expectation suites: Great Expectations JSON files in ``expectations/`` plus our metadata.

Each suite is a GX ``ExpectationSuite`` document. Its ``meta.dataqual`` says when it runs
(``stages``: raw and/or cleaned; ``scope``: per split or the whole dataset) and carries the
settings of the analysers that compute its columns. Each expectation's ``meta`` names the
check, its severity, the cleaning action and, for repairs, which repair.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataqual.checks.base import Action, Severity
from dataqual.errors import ConfigError

__all__ = [
    "ExpectationMeta",
    "Suite",
    "columns_of",
    "default_suites_dir",
    "is_row_level",
    "load_suites",
]

_ROW_LEVEL_PREFIXES = (
    "expect_column_values_to_",
    "expect_column_pair_values_",
    "expect_multicolumn_values_",
    "expect_compound_columns_to_be_unique",
    "expect_select_column_values_to_be_unique_within_record",
)


def is_row_level(expectation: dict[str, Any]) -> bool:
    """True for expectations judged row by row (GX "map" expectations), which name failing rows."""
    return str(expectation["type"]).startswith(_ROW_LEVEL_PREFIXES)


def columns_of(expectation: dict[str, Any]) -> set[str]:
    """The profile columns an expectation reads."""
    kwargs = expectation.get("kwargs", {})
    cols = {kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)}
    cols.update(c for c in kwargs.get("column_list", []) if isinstance(c, str))
    return cols


Stage = Literal["raw", "cleaned"]


class ExpectationMeta(BaseModel):
    """Our part of an expectation's ``meta``."""

    model_config = ConfigDict(extra="allow")

    check: str
    description: str = ""
    severity: Severity = Severity.ERROR
    action: Action = Action.NONE
    repair: str | None = None
    stages: list[Stage] | None = None


class SuiteMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = "1"
    stages: list[Stage] = Field(default_factory=lambda: ["raw", "cleaned"])
    scope: Literal["split", "dataset"] = "split"
    analysers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    thresholds: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Profile column -> robust threshold rule."
    )


class Suite(BaseModel):
    """A loaded suite: the GX document and our parsed metadata."""

    name: str
    path: Path
    document: dict[str, Any]
    meta: SuiteMeta
    expectations: list[tuple[dict[str, Any], ExpectationMeta]]

    @property
    def version(self) -> str:
        return self.meta.version

    def for_stage(
        self, stage: Stage, *, row_level: bool | None = None
    ) -> list[tuple[dict[str, Any], ExpectationMeta]]:
        """Expectations that run in ``stage``; ``row_level`` keeps only map (True) or
        aggregate (False) expectations."""
        if stage not in self.meta.stages:
            return []
        return [
            (e, m)
            for e, m in self.expectations
            if (m.stages is None or stage in m.stages)
            and (row_level is None or is_row_level(e) == row_level)
        ]


def default_suites_dir() -> Path:
    """The ``expectations/`` folder shipped with the repository (or the installed package)."""
    repo = Path(__file__).resolve().parents[3] / "expectations"
    if repo.is_dir():
        return repo
    return Path(str(resources.files("dataqual"))) / "expectations"


def _load_one(path: Path) -> Suite:
    try:
        doc = json.loads(path.read_text())
        meta = SuiteMeta.model_validate(doc.get("meta", {}).get("dataqual", {}))
        exps = []
        for i, exp in enumerate(doc["expectations"]):
            if "type" not in exp or "kwargs" not in exp:
                raise ConfigError(f"{path}: expectation {i} needs 'type' and 'kwargs'")
            exps.append((exp, ExpectationMeta.model_validate(exp.get("meta", {}))))
        return Suite(name=doc["name"], path=path, document=doc, meta=meta, expectations=exps)
    except (OSError, json.JSONDecodeError, KeyError, ValidationError) as exc:
        raise ConfigError(f"{path}: not a valid expectation suite: {exc}") from exc


def load_suites(folder: Path | None = None) -> list[Suite]:
    """All ``*.json`` suites of a folder, sorted by name; check names must be unique."""
    folder = Path(folder) if folder else default_suites_dir()
    if not folder.is_dir():
        raise ConfigError(f"suites folder {folder} does not exist")
    suites = [_load_one(p) for p in sorted(folder.glob("*.json"))]
    if not suites:
        raise ConfigError(f"no expectation suites (*.json) in {folder}")
    seen: dict[str, str] = {}
    for suite in suites:
        for _, meta in suite.expectations:
            if meta.check in seen and seen[meta.check] != suite.name:
                raise ConfigError(
                    f"check {meta.check!r} is defined in both {seen[meta.check]} and {suite.name}"
                )
            seen[meta.check] = suite.name
    return suites
