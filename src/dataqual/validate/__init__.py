"""Validate: run analysers and GX suites on a profile, one stage at a time."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.base import CheckResult
from dataqual.checks.registry import Analyser, get_analyser
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec
from dataqual.validate.gx_engine import GxValidator
from dataqual.validate.report import FINDINGS_COLUMNS, ValidationReport
from dataqual.validate.suites import Suite, analyser_settings, default_suites_dir, load_suites
from dataqual.validate.thresholds import Thresholds, merge_rules, robust_thresholds

__all__ = [
    "FINDINGS_COLUMNS",
    "GxValidator",
    "Suite",
    "ValidationReport",
    "default_suites_dir",
    "load_suites",
    "run_analysers",
    "split_parameters",
    "validate_profile",
]

log = logging.getLogger(__name__)


def split_parameters(
    spec: DatasetSpec, split: str | None, shape: tuple[int, int], raw_rows: dict[str, int]
) -> dict[str, Any]:
    """Values for the ``$PARAMETER`` placeholders of the suites, for one split."""
    base = raw_rows.get(split) if split else sum(raw_rows.values())
    declared = spec.expected_rows.get(split) if split else None
    reference_rows = declared if declared is not None else base
    return {
        "classes": list(spec.classes),
        "expected_rows": declared,
        "min_rows_after_cleaning": (
            None
            if reference_rows is None
            else math.ceil(reference_rows * (1 - spec.max_quarantine_fraction))
        ),
        "crop_limit_rows": shape[0] - 1,
        "crop_limit_cols": shape[1] - 1,
    }


def run_analysers(
    profile: Profile,
    suites: Sequence[Suite],
    *,
    stage: str,
    spec: DatasetSpec,
    analysers: Sequence[Analyser] | None = None,
    reference: Profile | None = None,
) -> tuple[Profile, Analysis]:
    """Run each analyser the suites turn on (or ``analysers``), in the registry's order, with
    its typed settings; returns the profile with their columns added (a new object) and
    everything they found."""
    settings = analyser_settings(suites)
    if analysers is None:
        analysers = [get_analyser(name)() for name in settings]
    table = profile.table.copy(deep=False)
    found = Analysis()
    for analyser in analysers:
        context = AnalysisContext(
            stage=stage, spec=spec, settings=settings.get(analyser.name), reference=reference
        )
        analysis = analyser.run(replace(profile, table=table), context)
        for column, values in analysis.columns.items():
            table[column] = values
        found.results.extend(analysis.results)
        found.artefacts.update(analysis.artefacts)
    return replace(profile, table=table), found


def validate_profile(
    profile: Profile,
    *,
    stage: str,
    spec: DatasetSpec,
    validator: GxValidator,
    suites: Sequence[Suite] | None = None,
    analysers: Sequence[Analyser] | None = None,
    raw_rows: dict[str, int] | None = None,
    reference: Profile | None = None,
    thresholds: Thresholds | None = None,
    splits: Sequence[str] | None = None,
) -> tuple[Profile, ValidationReport]:
    """Enrich the profile with analyser columns, then validate each split with every suite.

    Returns the enriched profile (a new object; the input is not modified) and the report.
    ``raw_rows`` are the rows per split before cleaning (defaults to this profile's counts);
    ``thresholds`` are the robust bounds to judge by (default: derived from this profile —
    pass the raw report's ``thresholds`` when validating cleaned data). ``analysers``
    default to those the suites turn on in ``meta.dataqual.analysers``. ``splits`` are the
    splits to judge, also when they hold no row (every split that was read or declared: a
    split that cleaning empties, or that is missing, must fail rather than go unjudged);
    default: the splits present in the profile.
    """
    suites = list(suites) if suites is not None else load_suites()
    enriched, found = run_analysers(
        profile, suites, stage=stage, spec=spec, analysers=analysers, reference=reference
    )
    table = enriched.table
    if thresholds is None:
        rules = merge_rules(s.meta.thresholds for s in suites)
        thresholds = robust_thresholds(table, rules, profile.shape)
    present = {str(k): int(v) for k, v in table["split"].value_counts().items()}
    judged = list(splits) if splits is not None else enriched.splits
    raw_rows = {s: 0 for s in judged} | (raw_rows or present)
    results = found.results + _run_suites(
        enriched, suites, judged, stage, spec, validator, raw_rows, thresholds
    )
    log.info(
        "%s validation: %d checks, %d failed",
        stage,
        len(results),
        sum(not r.success for r in results),
    )
    return enriched, ValidationReport(
        stage=stage, results=results, artefacts=found.artefacts, thresholds=thresholds
    )


def _run_suites(
    enriched: Profile,
    suites: list[Suite],
    judged: list[str],
    stage: str,
    spec: DatasetSpec,
    validator: GxValidator,
    raw_rows: dict[str, int],
    thresholds: Thresholds,
) -> list[CheckResult]:
    """GX results of every suite: one GX run per scope with every suite folded in (GX's cost
    is per run and per expectation). Row-level expectations do not depend on the split: one
    run over all rows. Aggregate ones (row counts, classes present) run per split, on just
    the rows of it."""
    results: list[CheckResult] = []

    def run(frame: pd.DataFrame, group: list[Suite], split: str | None, row_level: bool) -> None:
        if not group:
            return
        params = split_parameters(spec, split, enriched.shape, raw_rows) | thresholds.values
        results.extend(
            validator.validate(
                frame,
                group,
                stage=stage,
                split=split,
                parameters=params,
                row_level=row_level,
                notes=thresholds.notes,
            )
        )

    run(enriched.table, suites, None, True)
    run(enriched.table, [s for s in suites if s.meta.scope == "dataset"], None, False)
    per_split = [s for s in suites if s.meta.scope == "split"]
    for split in judged if per_split else []:
        run(enriched.split(split).reset_index(drop=True), per_split, split, False)
    return results
