"""Thresholds from the dataset's own robust statistics, declared per column in the suites.

A suite's ``meta.dataqual.thresholds`` maps a profile column to a rule; the rule yields the
``<column>_low`` / ``<column>_high`` parameters its expectations use. Fences are Tukey's
(quartile -/+ k x IQR), clamped by the rule's absolute limits, so a digit dataset and a
clothing dataset each get bounds that fit them. A ``rare`` rule yields its limit only when
few rows reach it (a full-height bounding box is a crop in MNIST but normal in
Fashion-MNIST); otherwise the check is skipped with the reason. Thresholds are computed once,
from the raw data, and reused for the cleaned data so both stages judge by the same bounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ThresholdRule", "Thresholds", "merge_rules", "robust_thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Suite parameters derived from the data, and why any of them is missing."""

    values: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"values": self.values, "notes": self.notes}


class ThresholdRule(BaseModel):
    """How to derive the bounds of one profile column."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["iqr", "rare"] = "iqr"
    k: float = Field(3.0, gt=0, description="Fence width in IQRs (iqr).")
    floor_low: float | None = Field(None, description="The low bound is at least this.")
    cap_high: float | None = Field(None, description="The high bound is at most this.")
    limit_from_height: int | None = Field(
        None, description="rare: the limit is image height plus this (e.g. -1)."
    )
    max_share: float = Field(0.01, ge=0, le=1, description="rare: apply only below this share.")


def robust_thresholds(
    table: pd.DataFrame, rules: dict[str, ThresholdRule], shape: tuple[int, int]
) -> Thresholds:
    """Parameters ``<column>_low``/``<column>_high`` for each rule, and why any is missing."""
    params: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    for column, rule in rules.items():
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if rule.method == "rare":
            limit = shape[0] + (rule.limit_from_height or 0)
            share = float(np.mean(values > limit)) if len(values) else 0.0
            if share <= rule.max_share:
                params[f"{column}_high"] = float(limit)
            else:
                params[f"{column}_high"] = None
                notes[f"{column}_high"] = (
                    f"not applicable: {share:.1%} of images have {column} > {limit}, "
                    f"more than {rule.max_share:.0%}, so it is normal for this dataset"
                )
            continue
        if len(values) == 0:
            params[f"{column}_low"] = params[f"{column}_high"] = None
            notes[f"{column}_low"] = notes[f"{column}_high"] = "no values to derive a threshold"
            continue
        q1, q3 = np.quantile(values, [0.25, 0.75])
        low, high = q1 - rule.k * (q3 - q1), q3 + rule.k * (q3 - q1)
        if rule.floor_low is not None:
            low = max(low, rule.floor_low)
        if rule.cap_high is not None:
            high = min(high, rule.cap_high)
        params[f"{column}_low"], params[f"{column}_high"] = float(low), float(high)
    return Thresholds(values=params, notes=notes)


def merge_rules(sources: Iterable[dict[str, dict[str, Any]]]) -> dict[str, ThresholdRule]:
    """Rules of several suites in one map (a later suite's rule for a column wins)."""
    rules: dict[str, ThresholdRule] = {}
    for source in sources:
        rules.update({col: ThresholdRule.model_validate(rule) for col, rule in source.items()})
    return rules
