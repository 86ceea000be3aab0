"""Expectation suites: Great Expectations JSON files in ``expectations/`` plus our metadata.

Each suite is a GX ``ExpectationSuite`` document. Its ``meta.dataqual`` says when it runs
(``stages``: raw and/or cleaned; ``scope``: per split or the whole dataset), turns on the
analysers that compute its columns (``analysers``: name -> overrides of the analyser's typed
settings, plus ``notes``) and may hold ``notes``. Each expectation's ``meta`` names the
check, its severity, the cleaning action and, for repairs, which repair.

:func:`load_suites` validates the whole folder before any work (see
:mod:`dataqual.validate.suite_rules` for the rules across files); every error is one line
naming the file, the key and the problem.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from dataqual.checks.base import Action, Severity
from dataqual.checks.registry import AnalyserSettings, Stage, analysers
from dataqual.errors import ConfigError
from dataqual.validate.suite_errors import suite_error, validation_error
from dataqual.validate.thresholds import ThresholdRule

__all__ = [
    "ExpectationMeta",
    "Suite",
    "SuiteMeta",
    "analyser_settings",
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


class ExpectationMeta(BaseModel):
    """Our part of an expectation's ``meta``."""

    model_config = ConfigDict(extra="forbid")

    check: str = Field(description="Name of the check: unique across the suites.")
    description: str = Field("", description="What a passing row or table looks like.")
    severity: Severity = Field(Severity.ERROR, description="error blocks training; warning not.")
    action: Action = Field(Action.NONE, description="What cleaning does with a failing row.")
    repair: str | None = Field(
        None, description="action repair: the registered repair (none: the reader repaired it)."
    )
    stages: list[Stage] | None = Field(None, description="Stages it runs at (default: suite's).")
    notes: str = Field("", description="Free text for maintainers.")


class SuiteMeta(BaseModel):
    """A suite's ``meta.dataqual``."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field("1", description="Version of the suite, recorded in the lineage.")
    stages: list[Stage] = Field(
        default_factory=lambda: ["raw", "cleaned"], description="Stages the suite runs at."
    )
    scope: Literal["split", "dataset"] = Field(
        "split", description="Aggregate expectations judge each split or the whole dataset."
    )
    analysers: dict[str, SerializeAsAny[AnalyserSettings]] = Field(
        default_factory=dict, description="Analysers turned on: name -> settings overrides."
    )
    thresholds: dict[str, ThresholdRule] = Field(
        default_factory=dict, description="Profile column -> robust threshold rule."
    )
    notes: str = Field("", description="Free text for maintainers.")


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


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise suite_error(path, (), f"not a valid expectation suite: {exc}") from exc
    if not isinstance(doc, dict):
        raise suite_error(path, (), "not a valid expectation suite: not a JSON object")
    for key, kind in (("name", str), ("expectations", list)):
        if key not in doc:
            raise suite_error(path, (key,), "required key is missing")
        if not isinstance(doc[key], kind):
            raise suite_error(path, (key,), f"{doc[key]!r} is not {_KIND[kind]}")
    return doc


_KIND = {str: "a string", list: "a list", dict: "an object"}


def _section(path: Path, doc: dict[str, Any], loc: tuple[str | int, ...]) -> dict[str, Any]:
    """The object at ``loc`` in ``doc`` ({} when absent)."""
    value: Any = doc
    for i, key in enumerate(loc):
        value = value.get(key, {})
        if not isinstance(value, dict):
            raise suite_error(path, loc[: i + 1], f"{value!r} is not an object")
    return value


def _suite_meta(path: Path, doc: dict[str, Any]) -> SuiteMeta:
    prefix = ("meta", "dataqual")
    raw = _section(path, doc, prefix)
    registered = analysers()
    typed: dict[str, AnalyserSettings] = {}
    for name in _section(path, doc, (*prefix, "analysers")):
        where = (*prefix, "analysers", name)
        if name not in registered:
            known = ", ".join(registered)
            raise suite_error(path, where, f"unknown analyser (registered: {known})")
        model = registered[name].Settings
        entry = _section(path, doc, where)
        try:
            typed[name] = model.model_validate(entry)
        except ValidationError as exc:
            raise validation_error(path, where, model, exc) from None
    try:
        return SuiteMeta.model_validate({**raw, "analysers": typed})
    except ValidationError as exc:
        raise validation_error(path, prefix, SuiteMeta, exc) from None


def _expectation_meta(path: Path, i: int, exp: Any) -> ExpectationMeta:
    if not isinstance(exp, dict) or "type" not in exp or "kwargs" not in exp:
        raise suite_error(path, ("expectations", i), "needs 'type' and 'kwargs'")
    meta = exp.get("meta", {})
    if not isinstance(meta, dict):
        raise suite_error(path, ("expectations", i, "meta"), f"{meta!r} is not an object")
    try:
        return ExpectationMeta.model_validate(meta)
    except ValidationError as exc:
        raise validation_error(path, ("expectations", i, "meta"), ExpectationMeta, exc) from None


def _load_one(path: Path) -> Suite:
    doc = _read(path)
    meta = _suite_meta(path, doc)
    exps = [(e, _expectation_meta(path, i, e)) for i, e in enumerate(doc["expectations"])]
    return Suite(name=doc["name"], path=path, document=doc, meta=meta, expectations=exps)


def load_suites(folder: Path | None = None) -> list[Suite]:
    """All ``*.json`` suites of a folder, sorted by name, each validated, then checked
    together (:func:`dataqual.validate.suite_rules.check_suites`)."""
    from dataqual.validate.suite_rules import check_suites

    folder = Path(folder) if folder else default_suites_dir()
    if not folder.is_dir():
        raise ConfigError(f"suites folder {folder} does not exist")
    suites = [_load_one(p) for p in sorted(folder.glob("*.json"))]
    if not suites:
        raise ConfigError(f"no expectation suites (*.json) in {folder}")
    check_suites(suites)
    return suites


def analyser_settings(suites: Sequence[Suite]) -> dict[str, AnalyserSettings]:
    """The settings of every analyser the suites turn on, in the registry's run order."""
    named = {name: s for suite in suites for name, s in suite.meta.analysers.items()}
    return {name: named[name] for name in analysers() if name in named}
