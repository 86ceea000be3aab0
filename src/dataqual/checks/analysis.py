"""Analysers: checks that need more than one row at a time (duplicates, label audits, drift).

An analyser reads the whole profile and adds columns to it (``duplicate_of``,
``label_issue``, ...) that the GX suites then check row by row, so every row-level finding
goes through one engine and one cleaning path. Results that are not about rows (drift of
the mean image, say) come back as :class:`~dataqual.checks.base.CheckResult` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from dataqual.checks.base import CheckResult
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec

__all__ = ["Analyser", "Analysis", "AnalysisContext"]


@dataclass(frozen=True)
class AnalysisContext:
    """What an analyser may read besides the profile."""

    stage: str
    spec: DatasetSpec
    settings: dict[str, Any] = field(default_factory=dict)
    reference: Profile | None = None


@dataclass
class Analysis:
    """What an analyser found: new profile columns, table-level results and artefacts.

    ``columns`` are aligned to the profile's rows. ``artefacts`` holds named tables (e.g. the
    label-issue review queue) that the pipeline writes out.
    """

    columns: dict[str, Any] = field(default_factory=dict)
    results: list[CheckResult] = field(default_factory=list)
    artefacts: dict[str, pd.DataFrame] = field(default_factory=dict)


class Analyser(Protocol):
    """A named multi-row check; ``settings`` come from the suites' ``meta.dataqual.analysers``."""

    name: str

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis: ...
