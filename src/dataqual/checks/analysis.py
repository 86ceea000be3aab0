"""What an analyser reads and returns: :class:`AnalysisContext` and :class:`Analysis`.

An analyser (see :mod:`dataqual.checks.registry`) reads the whole profile and adds columns
to it (``duplicate_of``, ``label_issue``, ...) that the GX suites then check row by row, so
every row-level finding goes through one engine and one cleaning path. Results that are not
about rows (drift of the mean image, say) come back as
:class:`~dataqual.checks.base.CheckResult` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from dataqual.checks.base import CheckResult
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec

if TYPE_CHECKING:
    from dataqual.checks.registry import AnalyserSettings

__all__ = ["Analysis", "AnalysisContext"]


@dataclass(frozen=True)
class AnalysisContext:
    """What an analyser may read besides the profile. ``settings`` is the analyser's typed
    ``Settings`` (None: its defaults)."""

    stage: str
    spec: DatasetSpec
    settings: AnalyserSettings | None = None
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
