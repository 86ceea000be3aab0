"""A toy check registered from outside the package: the ``toy_dark`` analyser adds a profile
column ``toy_dark`` (the image's mean pixel value is below ``max_mean``).

Loaded as a plugin (``dataqual --plugin tests.recipes.toy_check ...``); a suite then turns it
on in ``meta.dataqual.analysers`` and checks its column with a GX expectation
(:data:`TOY_SUITE`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.registry import Analyser, AnalyserSettings, register_analyser
from dataqual.profile import Profile

__all__ = ["TOY_SUITE", "ToyDark", "ToyDarkSettings"]


class ToyDarkSettings(AnalyserSettings):
    """Settings of :class:`ToyDark`."""

    max_mean: float = Field(
        20.0, ge=0, le=255, description="An image whose mean pixel value is below this is dark."
    )


@register_analyser
class ToyDark(Analyser[ToyDarkSettings]):
    """Adds ``toy_dark``: True where the image's mean pixel value is below ``max_mean``."""

    name: ClassVar[str] = "toy_dark"
    Settings = ToyDarkSettings
    columns: ClassVar[tuple[str, ...]] = ("toy_dark",)

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        settings: ToyDarkSettings = self.settings(context)
        dark = profile.table["mean"].to_numpy(dtype=float, na_value=0.0) < settings.max_mean
        return Analysis(columns={"toy_dark": dark})


#: The suite entry of the toy check: turn the analyser on (overriding one setting) and
#: expect its column to be False, as a warning that flags the row.
TOY_SUITE: dict[str, Any] = {
    "name": "toy_dark",
    "meta": {
        "dataqual": {
            "version": "1",
            "stages": ["raw"],
            "analysers": {"toy_dark": {"max_mean": 8.0, "stages": ["raw"], "notes": "toy"}},
        }
    },
    "expectations": [
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "toy_dark", "value_set": [False]},
            "meta": {
                "check": "toy_dark_image",
                "description": "Toy: the image is not very dark (mean pixel value >= 8)",
                "severity": "warning",
                "action": "flag",
            },
        }
    ],
}
